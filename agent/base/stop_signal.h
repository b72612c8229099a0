// A worker thread's stop request as a file descriptor (an eventfd): the
// thread polls it beside its own descriptors (inotify, netlink), so it
// sleeps without a timeout and still stops at once.
#pragma once

#include "bpfence/result.h"
#include "unique_fd.h"

namespace bpfence {

class StopSignal {
 public:
  Status open();
  // Wakes the thread polling fd(); it stays readable from then on.
  void fire();
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

}  // namespace bpfence
