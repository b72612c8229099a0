// A worker thread that sleeps in poll() on its own descriptors (inotify,
// netlink) and on stop_fd(), an eventfd: it needs no timeout to notice a
// stop, and stop() returns once it has ended.
#pragma once

#include <functional>
#include <thread>

#include "bpfence/result.h"
#include "unique_fd.h"

namespace bpfence {

class PollThread {
 public:
  PollThread() = default;
  ~PollThread() { stop(); }
  PollThread(const PollThread&) = delete;
  PollThread& operator=(const PollThread&) = delete;

  // Makes the stop descriptor; before start().
  Status open();
  // Runs body on the thread, unless it runs already. body returns once
  // stop_fd() is readable.
  void start(std::function<void()> body);
  // Signals stop_fd() and joins; nothing when not running.
  void stop();
  bool running() const { return thread_.joinable(); }
  int stop_fd() const { return stop_fd_.get(); }

 private:
  UniqueFd stop_fd_;
  std::thread thread_;
};

}  // namespace bpfence
