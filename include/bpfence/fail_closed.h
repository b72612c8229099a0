// The pods held fail-closed: a pod whose policy could not be applied keeps
// its established flows but gets no new ones until an apply succeeds. The
// agent marks them after a failed apply and clears them after a good one;
// each dataplane keeps the marks it was given so that an endpoint it
// rewrites keeps (or loses) its mark by the same rules:
//   - a later apply that touches the pod clears it (the pod's policy is
//     then what the kernel holds),
//   - unbind and uninstall forget it.
#pragma once

#include <set>
#include <string>

namespace bpfence {

class FailClosedPods {
 public:
  void set(const std::string& pod, bool fail_closed) {
    if (fail_closed)
      pods_.insert(pod);
    else
      pods_.erase(pod);
  }
  bool contains(const std::string& pod) const { return pods_.count(pod) > 0; }
  // Forgets one pod's mark; true when it had one.
  bool clear(const std::string& pod) { return pods_.erase(pod) > 0; }
  void clear_all() { pods_.clear(); }
  bool empty() const { return pods_.empty(); }
  size_t size() const { return pods_.size(); }
  const std::set<std::string>& pods() const { return pods_; }

 private:
  std::set<std::string> pods_;
};

}  // namespace bpfence
