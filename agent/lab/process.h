// Processes the lab starts: commands it runs to completion (ip, rm) and
// long-lived helpers (agents, listeners) it spawns inside a network
// namespace and later stops by pid. A pid is remembered with its start time
// so a recycled pid is never killed by mistake, also by a later `lab down`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "subprocess.h"

namespace bpfence::lab {

// A process as identified across time: pid plus its start time in clock
// ticks since boot (field 22 of /proc/PID/stat).
struct ProcessId {
  pid_t pid = 0;
  uint64_t start_time = 0;
  bool alive() const;  // running (not a zombie) and still the same process
};

// Start time of a running process, 0 when it does not exist.
uint64_t process_start_time(pid_t pid);

// Runs argv to completion, feeding `input` on stdin (the shared runner,
// subprocess.h). Non-zero exit is an error whose message holds the command
// and what it wrote on stderr.
inline Status run_command(const std::vector<std::string>& argv, const std::string& input = "",
                          std::string* out = nullptr) {
  return run_process(argv, input, out);
}

struct SpawnOptions {
  std::vector<std::string> argv;
  std::string netns;       // /run/netns/<name> entered with setns() before exec ("" = stay)
  std::string log_path;    // stdout and stderr appended here ("" = /dev/null)
  bool die_with_parent = false;  // PR_SET_PDEATHSIG: a crashed owner takes its helpers along
  int ready_fd = -1;       // when >= 0, the write end of a pipe handed to the child as fd 3
};

// Starts a helper in its own session (so a Ctrl-C at the terminal reaches
// only the lab's owner, which then stops it in order).
Status spawn(const SpawnOptions& options, ProcessId& out);

// Waits up to timeout_ms for a line on `fd` (the read end of a ready pipe).
// Fails when the writer closes without a line (the helper died) or on timeout.
Status wait_ready_line(int fd, int timeout_ms, const std::string& what, std::string* line = nullptr);

// SIGTERM, then SIGKILL after grace_ms; reaps it when it is our child.
// A process that is gone, or whose pid now names another process, is left alone.
void stop_process(const ProcessId& p, int grace_ms = 2000);

// The last `max_bytes` of a log file, for error messages.
std::string tail_file(const std::string& path, size_t max_bytes = 2000);

// Path of the running executable (/proc/self/exe resolved).
std::string self_exe();

}  // namespace bpfence::lab
