// The dataplane factory: --dataplane picks one, opened for the node.
#include "dataplane_factory.h"

#include <sys/utsname.h>

#include "bpfence/bpf_dataplane.h"
#include "bpfence/iptables_dataplane.h"
#include "bpfence/kernel_version.h"

namespace bpfence {
namespace {

// The agent runs where the pods' host-side interfaces are (the host, or a
// lab node's network namespace), so the tools run where it runs: no netns.
IptablesDataplaneOptions iptables_options(const DataplaneConfig& config) {
  IptablesDataplaneOptions o;
  o.node = config.node;
  return o;
}

Status open_iptables(const DataplaneConfig& config, DataplaneHandle* out) {
  IptablesDataplaneOptions o = iptables_options(config);
  auto dp = std::make_unique<IptablesDataplane>(config.node, o);
  if (Status s = dp->open(); !s) return s;
  DataplaneHandle h;
  h.location = "iptables:" + dp->backend() + ":BPFENCE-" + dp->tag();
  h.dataplane = std::move(dp);
  // Restart: the first apply() (or bind()) reads what an earlier agent left
  // (ipset save, iptables-save), takes over the bindings named in its
  // dispatch chain for pods the state still has, and converges everything
  // else, so chains of pods deleted meanwhile go then. Nothing is known
  // before that read, hence no adopted flag, no unclaimed interfaces to
  // hold back and nothing separate to prune.
  h.adopted = false;
  *out = std::move(h);
  return Status::ok();
}

}  // namespace

Status open_dataplane(const DataplaneConfig& config, DataplaneHandle* out) {
  if (config.kind == "iptables") return open_iptables(config, out);
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": unknown (known: bpf, iptables)");
  // Before loading: an old kernel gets one clear line, not a verifier log.
  if (utsname u{}; ::uname(&u) == 0) {
    if (Status s = check_kernel_release(u.release); !s) return s;
  }
  BpfDataplaneOptions o;
  o.node = config.node;
  o.bpffs = config.bpffs;
  if (config.max_flows) o.max_flows = config.max_flows;
  o.max_policy = config.max_policy;
  o.trace_new_flows = config.trace_new_flows;
  auto dp = std::make_unique<BpfDataplane>(o);
  if (Status s = dp->open(); !s) return s;
  DataplaneHandle h;
  h.location = dp->pin_dir();
  h.adopted = dp->reused_pinned_maps();
  h.dataplane = std::move(dp);
  *out = std::move(h);
  return Status::ok();
}

Status uninstall_dataplane(const DataplaneConfig& config, std::string* location) {
  if (config.kind == "iptables") {
    IptablesDataplaneOptions o = iptables_options(config);
    *location = "iptables:BPFENCE-" + iptables_node_tag(config.node);
    return iptables_uninstall(o);
  }
  if (config.kind != "bpf")
    return Status::error("--dataplane " + config.kind + ": unknown (known: bpf, iptables)");
  *location = bpf_pin_dir(config.bpffs, config.node);
  return bpf_uninstall_pinned(*location);
}

}  // namespace bpfence
