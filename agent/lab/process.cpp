// Running commands and spawning/stopping the lab's helper processes.
#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace bpfence::lab {

uint64_t process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  // The command name (field 2) may hold spaces: count fields after its ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  char state = 0;
  rest >> state;
  if (state == 'Z' || state == 'X') return 0;
  // Fields 4..21, then 22 is the start time.
  for (int i = 4; i <= 21 && rest >> field; ++i) {
  }
  uint64_t start = 0;
  rest >> start;
  return start;
}

bool ProcessId::alive() const { return pid > 0 && start_time != 0 && process_start_time(pid) == start_time; }

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return buf;
}

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

Status spawn(const SpawnOptions& o, ProcessId& out) {
  int ns_fd = -1;
  if (!o.netns.empty()) {
    ns_fd = open(o.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) return Status::error("spawn " + o.argv[0] + ": open " + o.netns + ": " + std::strerror(errno));
  }
  int log_fd = open(o.log_path.empty() ? "/dev/null" : o.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                    0644);
  if (log_fd < 0) {
    if (ns_fd >= 0) close(ns_fd);
    return Status::error("spawn " + o.argv[0] + ": open " + o.log_path + ": " + std::strerror(errno));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto args = c_argv(o.argv);
  pid_t parent = getpid();
  // Between fork and exec only async-signal-safe calls: the owner may have
  // other threads (probers, HTTP clients).
  pid_t pid = fork();
  if (pid == 0) {
    if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    setsid();
    if (o.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(125);
    }
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    // dup2 clears FD_CLOEXEC on the copy, but is a no-op when it is fd 3 already.
    if (o.ready_fd == 3) fcntl(3, F_SETFD, 0);
    else if (o.ready_fd >= 0) dup2(o.ready_fd, 3);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int err = errno;
  if (ns_fd >= 0) close(ns_fd);
  close(log_fd);
  close(null_fd);
  if (pid < 0) return Status::error("spawn " + o.argv[0] + ": fork: " + std::strerror(err));
  out.pid = pid;
  // The child exists from fork on; its start time is readable at once.
  out.start_time = process_start_time(pid);
  if (out.start_time == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    return Status::error("spawn " + join(o.argv) + ": exited at once (status " + std::to_string(status) + ")");
  }
  return Status::ok();
}

Status wait_ready_line(int fd, int timeout_ms, const std::string& what, std::string* line) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string text;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::error(what + ": not ready after " + std::to_string(timeout_ms) + " ms");
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[256];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Status::error(what + ": exited before it was ready");
    text.append(buf, got);
    if (auto nl = text.find('\n'); nl != std::string::npos) {
      if (line) *line = text.substr(0, nl);
      return Status::ok();
    }
  }
}

void stop_process(const ProcessId& p, int grace_ms) {
  if (!p.alive()) {
    // Reap it if it is our zombie child.
    waitpid(p.pid, nullptr, WNOHANG);
    return;
  }
  kill(p.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(p.pid, nullptr, WNOHANG) == p.pid) return;
    if (!p.alive()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (p.alive()) kill(p.pid, SIGKILL);
  // Our child: reap it now; someone else's: the kill is enough.
  for (int i = 0; i < 200 && p.alive(); ++i) {
    if (waitpid(p.pid, nullptr, WNOHANG) == p.pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  waitpid(p.pid, nullptr, WNOHANG);
}

std::string tail_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

}  // namespace bpfence::lab
