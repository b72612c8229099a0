// Running the real `bpfence` binary from tests: to completion with its
// output captured, or in the background (for `flow --follow`) with its
// output read line by line as it comes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bpfence::testcli {

struct CliResult {
  int rc = -1;
  std::string out, err;
};

// Runs BPFENCE_CLI with args; fails the test if it does not end in 30 s.
CliResult run_cli(const std::vector<std::string>& args);

// A background `bpfence` with pipes on stdout and stderr; killed (SIGTERM,
// then SIGKILL) and reaped when destroyed.
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args);
  ~CliProcess();
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // The next full line of stdout (or stderr), or nullopt after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) { return next(out_fd_, out_buf_, timeout); }
  std::optional<std::string> read_err_line(std::chrono::milliseconds timeout) {
    return next(err_fd_, err_buf_, timeout);
  }
  // Waits for exit; the exit code, or -1 after `timeout`.
  int wait(std::chrono::milliseconds timeout);

 private:
  std::optional<std::string> next(int fd, std::string& buf, std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_buf_, err_buf_;
  bool reaped_ = false;
};

// Writes `text` to dir/name, creating dir.
void write_file(const std::string& dir, const std::string& name, const std::string& text);

}  // namespace bpfence::testcli
