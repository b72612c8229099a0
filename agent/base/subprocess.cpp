// run_process(): posix_spawn (cheap even from a large agent process), stdin
// from a memfd filled beforehand (so a command that writes a lot before
// reading cannot deadlock with us), stdout and stderr drained with poll().
#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "unique_fd.h"

extern char** environ;

namespace bpfence {
namespace {

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

Status run_here(const std::vector<std::string>& argv, const std::string& input, std::string* out) {
  const std::string what = join(argv);
  if (argv.empty()) return Status::error("run: no command");
  UniqueFd in(memfd_create("bpfence-stdin", MFD_CLOEXEC));
  if (!in) return Status::error(what + ": memfd_create: " + std::strerror(errno));
  for (size_t off = 0; off < input.size();) {
    ssize_t n = ::write(in.get(), input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::error(what + ": write stdin: " + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  if (::lseek(in.get(), 0, SEEK_SET) < 0) return Status::error(what + ": lseek: " + std::strerror(errno));

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC)) return Status::error(what + ": pipe: " + std::strerror(errno));
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC)) return Status::error(what + ": pipe: " + std::strerror(errno));
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::error(what + ": spawn: " + std::strerror(rc));
  out_w.reset();
  err_w.reset();
  in.reset();

  std::string stdout_text, stderr_text;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
        continue;
      }
      (i == 0 ? stdout_text : stderr_text).append(buf, static_cast<size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out) *out = std::move(stdout_text);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
  while (!stderr_text.empty() && (stderr_text.back() == '\n' || stderr_text.back() == ' ')) stderr_text.pop_back();
  if (stderr_text.size() > 2000) stderr_text = "..." + stderr_text.substr(stderr_text.size() - 2000);
  std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                      : "signal " + std::to_string(WTERMSIG(status));
  return Status::error(what + ": " + how + (stderr_text.empty() ? "" : ": " + stderr_text));
}

}  // namespace

Status run_process(const std::vector<std::string>& argv, const std::string& input, std::string* out,
                   const std::string& netns) {
  if (netns.empty()) return run_here(argv, input, out);
  // setns() moves only the calling thread, and a child inherits its
  // caller's namespaces: a short-lived thread enters, spawns and waits.
  Status result;
  std::thread worker([&] {
    std::string path = "/run/netns/" + netns;
    UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
      result = Status::error(join(argv) + ": open " + path + ": " + std::strerror(errno));
      return;
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      result = Status::error(join(argv) + ": enter netns " + netns + ": " + std::strerror(errno));
      return;
    }
    result = run_here(argv, input, out);
  });
  worker.join();
  return result;
}

}  // namespace bpfence
