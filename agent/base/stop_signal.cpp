#include "stop_signal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace bpfence {

Status StopSignal::open() {
  fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd_) return Status::error("eventfd: " + std::string(std::strerror(errno)));
  return Status::ok();
}

void StopSignal::fire() {
  uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

}  // namespace bpfence
