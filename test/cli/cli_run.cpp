// Running the `bpfence` binary from tests (see cli_run.h).
#include "cli_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace bpfence::testcli {
namespace {

pid_t spawn(const std::vector<std::string>& args, int* out_fd, int* err_fd) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<std::string> argv_s = {BPFENCE_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, BPFENCE_CLI, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    throw std::runtime_error("cannot run " BPFENCE_CLI);
  }
  *out_fd = out[0];
  *err_fd = err[0];
  return pid;
}

}  // namespace

CliResult run_cli(const std::vector<std::string>& args) {
  CliProcess p(args);
  CliResult r;
  // Drain both pipes until both close, so a chatty child never blocks.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto line = p.read_line(std::chrono::milliseconds(50));
    if (line) r.out += *line + "\n";
    auto eline = p.read_err_line(std::chrono::milliseconds(0));
    if (eline) r.err += *eline + "\n";
    if (!line && !eline) {
      int rc = p.wait(std::chrono::milliseconds(0));
      if (rc != -1) {
        while (auto l = p.read_line(std::chrono::milliseconds(0))) r.out += *l + "\n";
        while (auto l = p.read_err_line(std::chrono::milliseconds(0))) r.err += *l + "\n";
        r.rc = rc;
        return r;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("bpfence did not finish in 30 s");
  }
}

CliProcess::CliProcess(const std::vector<std::string>& args) { pid_ = spawn(args, &out_fd_, &err_fd_); }

CliProcess::~CliProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGTERM);
    if (wait(std::chrono::milliseconds(2000)) == -1) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

std::optional<std::string> CliProcess::next(int fd, std::string& buf, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (n <= 0) return std::nullopt;
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got <= 0) {
      // Closed: a last line without a newline still counts.
      if (buf.empty()) return std::nullopt;
      std::string line;
      line.swap(buf);
      return line;
    }
    buf.append(chunk, static_cast<size_t>(got));
  }
}

int CliProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    usleep(2000);
  }
}

void write_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name) << text;
}

}  // namespace bpfence::testcli
