// Pin folders: creation, and removal of everything a (possibly dead) agent
// left for a node.
#include "pin.h"

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "bpfence/bpf_dataplane.h"
#include "pinned_map.h"
#include "tc_attachment.h"

namespace bpfence {

const std::vector<std::string>& pinned_map_names() {
  static const std::vector<std::string> names = {"endpoints", "pod_addrs", "cidrs",    "policy", "range_policy",
                                                 "flows",     "frags",     "counters", "events", "src_prefixes",
                                                 "cluster_policy", "endpoint_slots"};
  return names;
}

std::string bpf_pin_dir(const std::string& bpffs, const std::string& node) {
  return bpffs + "/bpfence/" + node;
}

Status make_pin_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("pin dir " + dir + ": " + ec.message());
  return Status::ok();
}

Status bpf_uninstall_pinned(const std::string& pin_dir) {
  Status first_error;
  auto note = [&](Status s) {
    if (!s && first_error) first_error = std::move(s);
  };
  // Keys only: an older agent's endpoint values may have another size.
  if (UniqueFd fd = open_pinned(pin_dir + "/endpoints", true)) {
    PinnedMap<__u32, bf_endpoint> endpoints(std::move(fd), pin_dir + "/endpoints");
    for (__u32 ifindex : endpoints.keys()) {
      note(tc_detach_bpfence(ifindex, BPF_TC_INGRESS));
      note(tc_detach_bpfence(ifindex, BPF_TC_EGRESS));
    }
  }
  for (const std::string& name : pinned_map_names()) {
    std::string path = pin_dir + "/" + name;
    if (::unlink(path.c_str()) && errno != ENOENT)
      note(Status::error("unpin " + path + ": " + errno_text(errno)));
  }
  if (::rmdir(pin_dir.c_str()) && errno != ENOENT)
    note(Status::error("remove " + pin_dir + ": " + errno_text(errno)));
  // <bpffs>/bpfence goes too once the last node is gone (ENOTEMPTY otherwise).
  std::filesystem::path parent = std::filesystem::path(pin_dir).parent_path();
  if (parent.filename() == "bpfence") (void)::rmdir(parent.c_str());
  return first_error;
}

}  // namespace bpfence
