// The iptables dataplane: the compiler's desired state rendered as ipsets and
// iptables chains, the way Calico's iptables dataplane and kube-router
// enforce NetworkPolicy, so the two dataplanes can be compared on the same
// work (issue #7). The design is written down in
// agent/dataplane/iptables/README.md.
//
// Everything it creates is named with a per-node tag, so simulated nodes
// sharing one machine (each in its own network namespace) never collide:
//   chains  BPFENCE-<tag>-FWD, BPFENCE-<tag>-I<endpoint>, BPFENCE-<tag>-E<endpoint>
//   ipsets  bpfence-<tag>-<hash>-4|6, bpfence-<tag>-host-4|6
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpfence/dataplane.h"
#include "bpfence/net.h"
#include "bpfence/result.h"

namespace bpfence {

struct IptablesDataplaneOptions {
  std::string node = "local";
  // Short name part shared by every chain and set; "" derives it from node
  // (iptables_node_tag()). At most 8 characters of [a-z0-9].
  std::string tag;
  // "auto" uses the variant `iptables` points to (iptables --version says
  // nf_tables or legacy); "nft" or "legacy" force one. Every tool call
  // (restore and save, IPv4 and IPv6) uses the same variant.
  std::string backend = "auto";
  // When set, every tool runs inside this named network namespace
  // (`ip netns exec <netns> ...`); "" runs them where the agent runs.
  std::string netns;
  bool ipv6 = true;  // also program ip6tables
  // After a change to a pod's policy (and when a pod is bound), decide its
  // established flows again and delete the conntrack entries of those now
  // denied (`conntrack -D`), so their next packet meets the new rules, as
  // the BPF datapath re-decides them (generation bump); allowed flows keep
  // their entries. Calico and kube-router do not: there an allowed
  // connection outlives a new deny. Off gives that behaviour (and saves a
  // conntrack listing per change).
  bool recheck_established = true;
};

// 6 hex digits of a hash of the node name (so node names of any length and
// character set give a tag that fits iptables' 28-character chain names).
std::string iptables_node_tag(const std::string& node);

class IptablesDataplane final : public Dataplane {
 public:
  explicit IptablesDataplane(IptablesDataplaneOptions options);
  IptablesDataplane(const std::string& node, IptablesDataplaneOptions options);
  // Leaves chains and sets in place: a node whose agent is down keeps
  // enforcing the last state.
  ~IptablesDataplane() override;
  IptablesDataplane(const IptablesDataplane&) = delete;
  IptablesDataplane& operator=(const IptablesDataplane&) = delete;

  // Picks the backend and checks that iptables-restore, ipset (and
  // ip6tables-restore when ipv6) run. Must precede everything else.
  Status open();

  std::string name() const override { return "iptables"; }
  // The first apply() after open() reads what an earlier agent left (ipset
  // save, iptables-save) and converges to the state; later ones render the
  // state and change only the chains and set members that differ.
  Status apply(const StateDiff& diff, const DesiredState& state) override;
  Status bind(const InterfaceBinding& binding, const DesiredState& state) override;
  Status unbind(const std::string& pod) override;
  std::vector<InterfaceBinding> bindings() const override;
  Status set_fail_closed(const std::string& pod, bool fail_closed) override;
  Status uninstall() override;
  // Flows from conntrack, counters from the rules (null before open()).
  const DataplaneObserver* observer() const override;
  // The Admin and Baseline stages are rendered into the endpoint chains.
  bool enforces_cluster_policy() const override { return true; }

  const std::string& tag() const;
  const std::string& backend() const;  // "nft" or "legacy" after open()

  // What the last successful change sent to the tools (tests, debugging).
  struct LastApply {
    std::string ipset_prepare;  // creates, adds, dels
    std::string iptables_v4;
    std::string iptables_v6;
    std::string ipset_cleanup;  // destroys
  };
  const LastApply& last_apply() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes every chain, FORWARD jump and ipset carrying the node's tag, with
// no agent state needed (`bpfence-agent --uninstall`, tests' cleanup).
Status iptables_uninstall(const IptablesDataplaneOptions& options);

// Observability without an agent, for the CLI and the HTTP API. Both only
// read (options.netns, backend and tag as for the dataplane).

// One connection tracking entry: a flow the rules let through (a dropped
// flow never gets a confirmed entry). Addresses in the datapath's form.
struct ConntrackEntry {
  uint8_t proto = 0;         // IP protocol number
  std::string state;         // TCP state ("ESTABLISHED", "TIME_WAIT"), "" for others
  uint32_t timeout_s = 0;    // seconds left
  IpAddress src, dst;        // original direction
  uint16_t sport = 0, dport = 0;  // ICMP: type and code in dport, id in sport
  IpAddress reply_src, reply_dst;
  uint16_t reply_sport = 0, reply_dport = 0;
  uint64_t packets = 0, bytes = 0;  // both directions; 0 unless nf_conntrack_acct is on
  bool assured = false, unreplied = false;
};

// The node's conntrack table (/proc/net/nf_conntrack in its namespace, or
// `conntrack -L` when the kernel has no proc file).
Status iptables_conntrack(const IptablesDataplaneOptions& options, std::vector<ConntrackEntry>* out);

// Packets and bytes through our rules, by what each rule stands for, in
// the datapath's action/reason terms (IPv4 and IPv6 summed).
struct RuleCounter {
  uint8_t action = 0;  // enum bf_action
  uint8_t reason = 0;  // enum bf_reason
  uint64_t packets = 0, bytes = 0;
};
Status iptables_counters(const IptablesDataplaneOptions& options, std::vector<RuleCounter>* out);

}  // namespace bpfence
