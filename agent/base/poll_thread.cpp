#include "poll_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace bpfence {

Status PollThread::open() {
  stop_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_fd_) return Status::error("eventfd: " + std::string(std::strerror(errno)));
  return Status::ok();
}

void PollThread::start(std::function<void()> body) {
  if (running()) return;
  thread_ = std::thread(std::move(body));
}

void PollThread::stop() {
  if (!running()) return;
  uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
}

}  // namespace bpfence
