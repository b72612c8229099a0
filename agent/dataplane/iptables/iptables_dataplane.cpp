// IptablesDataplane: renders the desired state (render.h) and makes the
// kernel match it with the tools (restore.h): ipset restore, then one
// iptables-restore --noflush transaction per family, then ipset destroys.
//
// What the kernel holds is tracked in memory (Applied); the first change
// after open(), and the first after a tool failed, reads it back from
// `ipset save` and `iptables-save` instead, so a restarted agent converges
// from whatever its predecessor left.
#include <net/if.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "bpfence/iptables_dataplane.h"
#include "command.h"
#include "conntrack.h"
#include "tools.h"
#include "kernel_state.h"
#include "render.h"
#include "restore.h"
#include "bpfence/fail_closed.h"
#include "iptables_observer.h"
#include "log.h"

namespace bpfence {
namespace {

bool valid_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > 8) return false;
  for (char c : tag)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

// Our sets, chains and FORWARD jumps as the kernel has them.
Status read_kernel(const ipt::Tools& tools, const ipt::Names& names, bool ipv6, ipt::Applied* out) {
  ipt::Applied a;
  std::string text;
  if (Status s = tools.ipset_save(&text); !s) return s;
  if (Status s = ipt::parse_ipset_save(text, names, &a.sets); !s) return s;
  std::vector<ipt::Family> families = {ipt::Family::V4};
  if (ipv6) families.push_back(ipt::Family::V6);
  for (ipt::Family f : families) {
    if (Status s = tools.save(f, &text); !s) return s;
    ipt::parse_iptables_save(text, names, &a.chains(f), &a.jumps(f), f == ipt::Family::V4 ? &a.dispatch : nullptr,
                             &a.input_jumps(f), &a.local_jumps(f));
  }
  *out = std::move(a);
  return Status::ok();
}

// Runs the texts in order; the first failure stops the rest. The two
// families' tables are independent, so their transactions run side by side
// (every tool call is a process: that is most of an update's latency).
Status run_texts(const ipt::Tools& tools, const ipt::RestoreTexts& t) {
  if (!t.ipset_prepare.empty())
    if (Status s = tools.ipset_restore(t.ipset_prepare); !s) return s;
  Status v6;
  std::thread v6_worker;
  if (!t.iptables_v6.empty()) v6_worker = std::thread([&] { v6 = tools.restore(ipt::Family::V6, t.iptables_v6); });
  Status v4;
  if (!t.iptables_v4.empty()) v4 = tools.restore(ipt::Family::V4, t.iptables_v4);
  if (v6_worker.joinable()) v6_worker.join();
  if (!v4) return v4;
  if (!v6) return v6;
  if (!t.ipset_cleanup.empty())
    if (Status s = tools.ipset_restore(t.ipset_cleanup); !s) return s;
  return Status::ok();
}

}  // namespace

std::string iptables_node_tag(const std::string& node) {
  uint32_t h = 2166136261u;
  for (unsigned char c : node) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", h & 0xffffff);
  return buf;
}

struct IptablesDataplane::Impl {
  IptablesDataplaneOptions options;
  ipt::Names names;
  ipt::Tools tools;
  bool opened = false;
  bool ipv6 = true;
  bool kernel_known = false;  // `applied` is what the kernel holds
  ipt::Applied applied;
  ipt::Renderer renderer{{}, true};
  ipt::Changes pending;  // rendered, not yet in the kernel
  std::map<std::string, InterfaceBinding> bound;
  FailClosedPods fail_closed;
  LastApply last;
  // The read side and the view of local pods it needs (observer()).
  std::shared_ptr<ipt::LocalEndpoints> view = std::make_shared<ipt::LocalEndpoints>();
  std::unique_ptr<ipt::IptablesObserver> observer;

  Status apply(const StateDiff& diff, const DesiredState& state);
  Status bind(const InterfaceBinding& binding, const DesiredState& state);
  Status unbind(const std::string& pod);
  std::vector<InterfaceBinding> bindings() const {
    std::vector<InterfaceBinding> out;
    for (const auto& [pod, b] : bound) out.push_back(b);
    return out;
  }

  // options.recheck_established: the bound pods' addresses among `pods`.
  void recheck(const DesiredState& state, const std::set<std::string>& pods) {
    if (!options.recheck_established) return;
    std::set<IpAddress> ips;
    for (const std::string& pod : pods) {
      auto it = state.endpoints.find(pod);
      if (it == state.endpoints.end() || !bound.count(pod)) continue;
      ips.insert(it->second.ips.begin(), it->second.ips.end());
    }
    if (ips.empty()) return;
    auto start = std::chrono::steady_clock::now();
    // The rules are in place already; a failure here only leaves some
    // established flows on their old verdict, so it is logged, not returned.
    // A flow is what was sent to its reply's source (the pod behind a
    // Service's DNAT), on that source's port (verdict() ignores the port
    // of a protocol without ports: ICMP's holds the echo id).
    StateVerdicts verdicts(state);
    auto still_allowed = [&](const ConntrackEntry& e) {
      return verdicts.verdict(e.src, e.reply_src, e.proto, e.reply_sport).allowed;
    };
    size_t deletes = 0;
    Status s = ipt::forget_flows(tools, ips, still_allowed, &deletes);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    if (!s)
      agentlog::warn("conntrack entries not deleted: established flows keep their verdict",
               "node=" + options.node + " error=" + agentlog::q(s.message()));
    else
      agentlog::debug("established flows decided again: the denied ones' conntrack entries deleted",
               "node=" + options.node + " addresses=" + std::to_string(ips.size()) +
                   " conntrack_deletes=" + std::to_string(deletes) + " us=" + std::to_string(us));
  }

  std::map<std::string, std::string> ifnames() const {
    std::map<std::string, std::string> out;
    for (const auto& [pod, b] : bound) out[pod] = b.ifname;
    return out;
  }

  // Reads the kernel when what it holds is not known (after open, after a
  // tool failed). The first time, the pods an earlier agent dispatched are
  // taken over as bindings (adopt()), so a restart leaves no gap.
  bool first_read = true;
  std::map<std::string, std::string> adoptable;  // pod -> interface
  // A veth that is a bridge port (flannel, CNI bridge) forwards same-node
  // traffic at layer 2: iptables sees it only through br_netfilter with
  // net.bridge.bridge-nf-call-iptables on. Without it the pod would look
  // enforced and not be, so binding fails and says what is missing.
  Status check_bridged(const InterfaceBinding& b) {
    std::string link;
    if (!tools.run({"ip", "-o", "link", "show", "dev", b.ifname}, "", &link)) return Status::ok();
    auto at = link.find(" master ");
    if (at == std::string::npos) return Status::ok();
    std::string bridge = link.substr(at + 8, link.find(' ', at + 8) - at - 8);
    std::string on;
    (void)tools.run({"cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"}, "", &on);
    if (on.starts_with("1")) return Status::ok();
    return Status::error("bind " + b.pod + ": " + b.ifname + " is a port of bridge " + bridge +
                         " and net.bridge.bridge-nf-call-iptables is " +
                         (on.empty() ? "missing (br_netfilter not loaded)" : "0") +
                         ": bridged traffic would bypass iptables; load br_netfilter and set it to 1");
  }

  Status know_kernel() {
    if (kernel_known) return Status::ok();
    if (Status s = read_kernel(tools, names, ipv6, &applied); !s) return s;
    kernel_known = true;
    pending.all = true;
    if (first_read) adoptable = applied.dispatch;
    first_read = false;
    return Status::ok();
  }

  // Bindings found in the kernel for pods the state still has, unless the
  // agent bound the pod or the interface since.
  void adopt(const DesiredState& state) {
    for (const auto& [pod, ifname] : adoptable) {
      if (!state.endpoints.count(pod) || bound.count(pod) || !ipt::valid_ifname(ifname)) continue;
      bool taken = false;
      for (const auto& [p, b] : bound) taken = taken || b.ifname == ifname;
      if (taken) continue;
      int ifindex = options.netns.empty() ? static_cast<int>(if_nametoindex(ifname.c_str())) : 0;
      bound[pod] = InterfaceBinding{pod, ifindex, ifname};
      agentlog::info("took over binding from the kernel", "pod=" + pod + " ifname=" + ifname);
    }
    adoptable.clear();
  }

  // Sends what the renderer changed since the last push to the kernel.
  Status push() {
    pending.merge(renderer.take_changes());
    if (Status s = know_kernel(); !s) return s;
    if (pending.empty()) return Status::ok();
    auto start = std::chrono::steady_clock::now();
    ipt::RestoreTexts t = ipt::restore_texts(applied, renderer.model(), pending, names, ipv6);
    if (Status s = run_texts(tools, t); !s) {
      // Half applied, maybe: read the kernel back next time.
      kernel_known = false;
      agentlog::error("iptables apply failed", "node=" + options.node + " error=" + agentlog::q(s.message()));
      return s;
    }
    ipt::patch_applied(applied, renderer.model(), pending, names, ipv6);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    if (!t.empty())
      agentlog::info("iptables rules applied",
               "node=" + options.node + " full=" + (pending.all ? "true" : "false") +
                   " sets_changed=" + std::to_string(pending.sets.size()) +
                   " chains_changed=" + std::to_string(pending.chains.size()) + " us=" + std::to_string(us));
    pending = {};
    last = {t.ipset_prepare, t.iptables_v4, t.iptables_v6, t.ipset_cleanup};
    return Status::ok();
  }
};

IptablesDataplane::IptablesDataplane(IptablesDataplaneOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->names.tag = impl_->options.tag.empty() ? iptables_node_tag(impl_->options.node) : impl_->options.tag;
}

IptablesDataplane::IptablesDataplane(const std::string& node, IptablesDataplaneOptions options)
    : IptablesDataplane([&] {
        options.node = node;
        return options;
      }()) {}

IptablesDataplane::~IptablesDataplane() = default;

const std::string& IptablesDataplane::tag() const { return impl_->names.tag; }
const std::string& IptablesDataplane::backend() const { return impl_->tools.backend; }
const IptablesDataplane::LastApply& IptablesDataplane::last_apply() const { return impl_->last; }

Status IptablesDataplane::open() {
  Impl& d = *impl_;
  if (d.opened) return Status::error("iptables dataplane " + d.options.node + ": already open");
  if (!valid_tag(d.names.tag))
    return Status::error("iptables dataplane: tag \"" + d.names.tag + "\" must be 1-8 characters of [a-z0-9]");
  if (Status s = ipt::detect_backend(d.options.backend, &d.tools.backend); !s) return s;
  d.tools.netns = d.options.netns;
  d.ipv6 = d.options.ipv6;
  std::string out;
  if (Status s = d.tools.run({"ipset", "version"}, "", &out); !s)
    return Status::error("iptables dataplane: ipset does not run: " + s.message());
  if (Status s = d.tools.save(ipt::Family::V4, &out); !s)
    return Status::error("iptables dataplane: " + s.message());
  if (d.ipv6) {
    if (Status s = d.tools.save(ipt::Family::V6, &out); !s) {
      agentlog::warn("ip6tables does not run: IPv6 traffic is not enforced",
               "node=" + d.options.node + " error=" + agentlog::q(s.message()));
      d.ipv6 = false;
    }
  }
  d.renderer = ipt::Renderer(d.names, d.ipv6);
  d.opened = true;
  // The observer reads with the same variant and tag the dataplane writes.
  IptablesDataplaneOptions read = d.options;
  read.backend = d.tools.backend;
  read.tag = d.names.tag;
  d.observer = std::make_unique<ipt::IptablesObserver>(read, d.view);
  agentlog::info("iptables dataplane open",
           "node=" + d.options.node + " tag=" + d.names.tag + " backend=" + d.tools.backend +
               " ipv6=" + (d.ipv6 ? "true" : "false") + (d.options.netns.empty() ? "" : " netns=" + d.options.netns));
  return Status::ok();
}

Status IptablesDataplane::Impl::apply(const StateDiff& diff, const DesiredState& state) {
  Impl& d = *this;
  if (!d.opened) return Status::error("iptables dataplane " + d.options.node + ": apply before open");
  // A later apply clears the fail-closed mark of the pods it touches.
  std::set<std::string> redo;
  auto clear = [&](const std::string& pod) {
    if (d.fail_closed.clear(pod)) redo.insert(pod);
  };
  for (const auto& pod : diff.touched_endpoints) clear(pod);
  for (const auto& [pod, es] : diff.endpoints.upsert) clear(pod);
  if (Status s = d.know_kernel(); !s) return s;
  if (!d.adoptable.empty()) {
    d.adopt(state);
    d.renderer = ipt::Renderer(d.names, d.ipv6);  // a full render with the bindings taken over
  }
  Status s = d.renderer.consistent() ? d.renderer.render_changes(state, diff, d.ifnames(), d.fail_closed.pods(), redo)
                                     : d.renderer.render_all(state, d.ifnames(), d.fail_closed.pods());
  if (!s) return s;  // nothing was written
  if (Status p = d.push(); !p) return p;
  // Pods whose verdicts may have changed (the compiler's list; every pod
  // when an address changed identity).
  std::set<std::string> touched = diff.touched_endpoints;
  for (const auto& [pod, es] : diff.endpoints.upsert) touched.insert(pod);
  d.recheck(state, touched);
  return Status::ok();
}

Status IptablesDataplane::Impl::bind(const InterfaceBinding& binding, const DesiredState& state) {
  Impl& d = *this;
  if (!d.opened) return Status::error("iptables dataplane " + d.options.node + ": bind before open");
  if (!state.endpoints.count(binding.pod))
    return Status::error("bind " + binding.pod + ": not a local endpoint of the desired state");
  InterfaceBinding b = binding;
  if (b.ifname.empty() && b.ifindex > 0 && d.options.netns.empty()) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(static_cast<unsigned>(b.ifindex), name)) b.ifname = name;
  }
  if (!ipt::valid_ifname(b.ifname))
    return Status::error("bind " + b.pod + ": interface name \"" + b.ifname + "\" is not usable in iptables");
  if (Status s = d.check_bridged(b); !s) return s;
  std::set<std::string> redo = {b.pod};
  // An interface name now used by another pod: that pod's veth is gone.
  for (auto it = d.bound.begin(); it != d.bound.end();) {
    if (it->first != b.pod && it->second.ifname == b.ifname) {
      redo.insert(it->first);
      d.fail_closed.clear(it->first);
      it = d.bound.erase(it);
    } else {
      ++it;
    }
  }
  if (Status s = d.know_kernel(); !s) return s;
  d.bound[b.pod] = b;
  if (!d.adoptable.empty()) {
    d.adopt(state);
    d.renderer = ipt::Renderer(d.names, d.ipv6);
  }
  Status s = d.renderer.consistent() ? d.renderer.render_changes(state, StateDiff{}, d.ifnames(), d.fail_closed.pods(), redo)
                                     : d.renderer.render_all(state, d.ifnames(), d.fail_closed.pods());
  if (!s) return s;
  if (Status p = d.push(); !p) return p;
  // Flows that began before the pod was enforced are decided now.
  d.recheck(state, {b.pod});
  agentlog::info("bound", "pod=" + b.pod + " ifname=" + b.ifname + " ifindex=" + std::to_string(b.ifindex));
  return Status::ok();
}

Status IptablesDataplane::Impl::unbind(const std::string& pod) {
  Impl& d = *this;
  if (!d.bound.erase(pod)) return Status::ok();
  d.fail_closed.clear(pod);
  if (!d.opened || !d.renderer.consistent()) return Status::ok();  // the next full render leaves it out
  d.renderer.remove_pod(pod);
  if (Status s = d.push(); !s) return s;
  agentlog::info("unbound", "pod=" + pod);
  return Status::ok();
}

// The rules first, then the observer's view of the local pods.
Status IptablesDataplane::apply(const StateDiff& diff, const DesiredState& state) {
  Status s = impl_->apply(diff, state);
  impl_->view->after_apply(diff, state, impl_->bindings());
  return s;
}

Status IptablesDataplane::bind(const InterfaceBinding& binding, const DesiredState& state) {
  Status s = impl_->bind(binding, state);
  impl_->view->after_bind(state, impl_->bindings());
  return s;
}

Status IptablesDataplane::unbind(const std::string& pod) {
  Status s = impl_->unbind(pod);
  impl_->view->after_unbind(impl_->bindings());
  return s;
}

std::vector<InterfaceBinding> IptablesDataplane::bindings() const { return impl_->bindings(); }

const DataplaneObserver* IptablesDataplane::observer() const { return impl_->observer.get(); }

Status IptablesDataplane::set_fail_closed(const std::string& pod, bool fail_closed) {
  Impl& d = *impl_;
  d.fail_closed.set(pod, fail_closed);
  if (!d.opened || !d.renderer.consistent() || !d.bound.count(pod)) return Status::ok();
  // Established flows keep going (the chain still accepts them first); new
  // ones drop until a later apply() clears the mark.
  d.renderer.set_fail_closed(pod, fail_closed);
  return d.push();
}

Status IptablesDataplane::uninstall() {
  Impl& d = *impl_;
  if (!d.opened) return Status::error("iptables dataplane " + d.options.node + ": uninstall before open");
  IptablesDataplaneOptions o = d.options;
  o.tag = d.names.tag;
  o.backend = d.tools.backend;
  o.ipv6 = d.ipv6;
  Status s = iptables_uninstall(o);
  d.bound.clear();
  d.fail_closed.clear_all();
  d.renderer = ipt::Renderer(d.names, d.ipv6);
  d.applied = {};
  d.pending = {};
  d.kernel_known = false;
  return s;
}

Status iptables_uninstall(const IptablesDataplaneOptions& options) {
  ipt::Names names;
  names.tag = options.tag.empty() ? iptables_node_tag(options.node) : options.tag;
  ipt::Tools tools;
  tools.netns = options.netns;
  if (Status s = ipt::detect_backend(options.backend, &tools.backend); !s) return s;
  bool ipv6 = options.ipv6;
  if (ipv6) {
    std::string out;
    ipv6 = tools.save(ipt::Family::V6, &out).is_ok();
  }
  ipt::Applied have;
  if (Status s = read_kernel(tools, names, ipv6, &have); !s) return s;
  ipt::RestoreTexts t = ipt::uninstall_texts(have);
  if (Status s = run_texts(tools, t); !s) return s;
  size_t chains = have.chains_v4.size() + have.chains_v6.size();
  agentlog::info("iptables uninstalled",
           "node=" + options.node + " tag=" + names.tag + " chains=" + std::to_string(chains) +
               " sets=" + std::to_string(have.sets.size()));
  return Status::ok();
}

}  // namespace bpfence
