// TC attachments of bpfence's programs, with libbpf's tc API.
#include "tc_attachment.h"

#include <bpf/bpf.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "pinned_map.h"
#include "unique_fd.h"

namespace bpfence {
namespace {

const char* point_name(bpf_tc_attach_point p) { return p == BPF_TC_INGRESS ? "ingress" : "egress"; }

std::string where(int ifindex, bpf_tc_attach_point p) {
  char name[IF_NAMESIZE] = {};
  std::string n = if_indextoname(ifindex, name) ? name : "?";
  return "ifindex " + std::to_string(ifindex) + " (" + n + ") " + point_name(p);
}

bool gone(int err) { return err == ENODEV || err == ENOENT || err == ENXIO || err == EINVAL; }

}  // namespace

TcAttachment::~TcAttachment() { (void)detach(); }

TcAttachment::TcAttachment(TcAttachment&& o) noexcept
    : ifindex_(std::exchange(o.ifindex_, 0)), point_(o.point_) {}

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
  if (this != &o) {
    (void)detach();
    ifindex_ = std::exchange(o.ifindex_, 0);
    point_ = o.point_;
  }
  return *this;
}

Status TcAttachment::attach(int ifindex, bpf_tc_attach_point point, int prog_fd, TcAttachment* out) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int rc = bpf_tc_hook_create(&hook);
  if (rc && rc != -EEXIST)
    return Status::error("tc: create clsact on " + where(ifindex, point) + ": " + errno_text(rc));

  hook.attach_point = point;
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
              .handle = kTcHandle, .priority = kTcPriority);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc) return Status::error("tc: attach on " + where(ifindex, point) + ": " + errno_text(rc));
  TcAttachment a;
  a.ifindex_ = ifindex;
  a.point_ = point;
  *out = std::move(a);
  return Status::ok();
}

Status TcAttachment::detach() {
  if (!ifindex_) return Status::ok();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = point_);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int rc = bpf_tc_detach(&hook, &opts);
  int ifindex = std::exchange(ifindex_, 0);
  if (rc && !gone(-rc)) return Status::error("tc: detach from " + where(ifindex, point_) + ": " + errno_text(rc));
  return Status::ok();
}

uint32_t tc_attached_prog_id(int ifindex, bpf_tc_attach_point point) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (bpf_tc_query(&hook, &opts)) return 0;
  return opts.prog_id;
}

Status tc_detach_bpfence(int ifindex, bpf_tc_attach_point point, bool* found) {
  if (found) *found = false;
  // The filter at bpfence's own handle/priority is bpfence's: that is what
  // they are reserved for. Asking the program's name would need
  // bpf_prog_get_fd_by_id, which takes CAP_SYS_ADMIN, and the DaemonSet runs
  // with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON only (issue 4).
  if (!tc_attached_prog_id(ifindex, point)) return Status::ok();
  TcAttachment a;
  a.ifindex_ = ifindex;
  a.point_ = point;
  if (found) *found = true;
  return a.detach();
}

}  // namespace bpfence
