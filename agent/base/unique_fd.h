// UniqueFd: owns one file descriptor (a BPF map, program or link, a socket,
// a memfd, a namespace) and closes it exactly once.
#pragma once

#include <utility>

namespace bpfence {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);
  // A second descriptor for the same object (-1 on failure, errno set).
  static UniqueFd dup(int fd);

 private:
  int fd_ = -1;
};

}  // namespace bpfence
