// UniqueFd: close-on-destruction file descriptors.
#include "unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

namespace bpfence {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

UniqueFd UniqueFd::dup(int fd) {
  if (fd < 0) return UniqueFd();
  return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

}  // namespace bpfence
