// TcAttachment: one bpfence program attached with clsact to one direction of
// one interface (bpf_tc_hook_create + bpf_tc_attach). Detaches in its
// destructor, unless release()d: the dataplane releases its attachments when
// the agent exits, so a node whose agent is down keeps enforcing instead of
// falling open. unbind/uninstall detach for real.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>

#include "bpfence/result.h"

namespace bpfence {

// Every bpfence filter uses this handle and priority, so a restarted agent
// replaces its predecessor's filter in place (no gap) and uninstall can find
// leftovers.
constexpr uint32_t kTcHandle = 0xbf;
constexpr uint32_t kTcPriority = 0xbf;

class TcAttachment {
 public:
  TcAttachment() = default;
  ~TcAttachment();
  TcAttachment(TcAttachment&& o) noexcept;
  TcAttachment& operator=(TcAttachment&& o) noexcept;
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  // Creates the clsact qdisc if needed and attaches prog_fd, replacing a
  // filter already at bpfence's handle/priority.
  static Status attach(int ifindex, bpf_tc_attach_point point, int prog_fd, TcAttachment* out);

  // Removes the filter. An interface that is already gone is not an error.
  Status detach();
  // Leaves the filter in the kernel and forgets it.
  void release() { ifindex_ = 0; }

  bool attached() const { return ifindex_ != 0; }
  int ifindex() const { return ifindex_; }
  bpf_tc_attach_point point() const { return point_; }

 private:
  friend Status tc_detach_bpfence(int ifindex, bpf_tc_attach_point point, bool* found);
  int ifindex_ = 0;
  bpf_tc_attach_point point_ = BPF_TC_INGRESS;
};

// Detaches the filter at bpfence's handle/priority (0xbf/0xbf, reserved for
// bpfence) on (ifindex, point), if there is one. Sets *found. Needs only
// CAP_NET_ADMIN (no program info is read).
Status tc_detach_bpfence(int ifindex, bpf_tc_attach_point point, bool* found = nullptr);

// The program attached at bpfence's handle/priority: its id, or 0.
uint32_t tc_attached_prog_id(int ifindex, bpf_tc_attach_point point);

}  // namespace bpfence
