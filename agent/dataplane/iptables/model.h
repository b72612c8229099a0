// The iptables dataplane's picture of the kernel: ipsets with their entries
// and filter-table chains with their rules, as plain values. The renderer
// builds one from the desired state; restore.h turns the difference between
// two of them into ipset/iptables-restore input; simulate.h evaluates a
// packet against one (tests check it against the compiler's verdict()).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpfence/datapath_abi.h"
#include "bpfence/net.h"

namespace bpfence::ipt {

enum class Family : uint8_t { V4 = 4, V6 = 6 };

// Every name the dataplane creates for one node.
struct Names {
  std::string tag;  // iptables_node_tag(node) or the configured tag

  std::string chain_prefix() const { return "BPFENCE-" + tag + "-"; }
  std::string set_prefix() const { return "bpfence-" + tag + "-"; }
  std::string forward_chain() const { return chain_prefix() + "FWD"; }
  // Every pod's source check (-i <veth> -j S<id>), jumped to from INPUT
  // and first thing in FWD: what a pod sends to the node is checked too.
  std::string source_dispatch_chain() const { return chain_prefix() + "SRC"; }
  // What pods send to the node itself crosses INPUT, not FORWARD: the egress
  // chains of the pods a ClusterNetworkPolicy stage decides, jumped to from
  // INPUT (a NetworkPolicy always lets a pod reach its node).
  std::string local_dispatch_chain() const { return chain_prefix() + "LOCAL"; }
  // BPFENCE-<tag>-I<id> (to the pod: its ingress), -E<id> (from the pod).
  std::string endpoint_chain(bf_direction dir, uint32_t endpoint_id) const {
    return chain_prefix() + (dir == BF_DIR_INGRESS ? "I" : "E") + std::to_string(endpoint_id);
  }
  // BPFENCE-<tag>-S<id>: what the pod may send from (its source check).
  std::string source_chain(uint32_t endpoint_id) const { return chain_prefix() + "S" + std::to_string(endpoint_id); }
  // BPFENCE-<tag>-I<id>P / -E<id>P: what follows the Admin stage of an
  // endpoint chain whose Admin rules include a Pass (a Pass goes there).
  std::string after_admin_chain(bf_direction dir, uint32_t endpoint_id) const {
    return endpoint_chain(dir, endpoint_id) + "P";
  }
  std::string host_set(Family f) const { return set_prefix() + "host-" + suffix(f); }
  // A peer set is named by a 48-bit hash of its identities, so the same
  // identities give the same name in every run (restarts reuse the sets).
  std::string peer_set(uint64_t hash48, Family f) const;
  static std::string suffix(Family f) { return f == Family::V4 ? "4" : "6"; }
  // The comment on the FORWARD jump, so uninstall finds it.
  std::string jump_comment() const { return "bpfence " + tag; }
};

// 48-bit FNV-1a hash of a sorted identity list (the peer set's name).
uint64_t identities_hash(const std::vector<uint32_t>& sorted_ids);

struct PortRange {
  uint16_t first = 0, last = 0;
  auto operator<=>(const PortRange&) const = default;
};

// One iptables rule (one line of iptables-restore input).
struct Rule {
  enum class Ct : uint8_t { Any, EstablishedRelated, Invalid };
  // Goto (-g): the chain's RETURN (or its end) returns to our caller, so
  // an Admin Pass can skip the rest of its stage.
  enum class Target : uint8_t { Accept, Drop, Return, Jump, Goto };

  std::string in_iface, out_iface;
  std::string physdev_in;     // -m physdev --physdev-in: the bridge port a frame came in by
  std::string not_out_iface;  // ! -o
  Ct ctstate = Ct::Any;
  std::optional<IpAddress> src, dst;  // one address (/32 or /128)
  std::optional<Prefix> src_net;      // a source prefix
  uint8_t proto = 0;                  // 0: every protocol
  std::vector<PortRange> dports;      // empty: every port; more than one: multiport
  std::string match_set;              // ipset name, "" for none
  bool set_src = true;                // match the set against src (else dst)
  Target target = Target::Return;
  std::string jump;                   // chain, for Target::Jump and Target::Goto
  std::string comment;                // -m comment, "" for none

  bool operator==(const Rule&) const = default;
};

using Chain = std::vector<Rule>;

// A hash:net set. An entry's flag says `nomatch`: ipset looks for the most
// specific entry that contains the address, and a nomatch entry there means
// "not in the set" (this is how a CIDR minus its inner prefixes is written).
struct Ipset {
  Family family = Family::V4;
  std::map<Prefix, bool> entries;  // prefix (IPv4-mapped form for V4) -> nomatch
  bool operator==(const Ipset&) const = default;
};

// The comment on a source chain's final DROP: the counters read it as
// D(SpoofedSource).
inline constexpr const char* kSpoofedSourceComment = "spoofed source";
// ClusterNetworkPolicy rules carry "<what> <rule>" comments, <what> one of
// these (the counters read the reason from it): "AdminDeny cnp/x egress[0]".
inline constexpr const char* kAdminAccept = "AdminAccept";
inline constexpr const char* kAdminDeny = "AdminDeny";
inline constexpr const char* kAdminPass = "AdminPass";
inline constexpr const char* kBaselineAccept = "BaselineAccept";
inline constexpr const char* kBaselineDeny = "BaselineDeny";
inline constexpr const char* kBaselinePass = "BaselinePass";

inline constexpr uint32_t kIpsetMaxElem = 1u << 20;  // per set, checked before writing

struct Model {
  std::map<std::string, Ipset> sets;
  std::map<std::string, Chain> chains_v4;
  std::map<std::string, Chain> chains_v6;
  // For display: the identities behind each peer set name.
  std::map<std::string, std::vector<uint32_t>> set_identities;

  const std::map<std::string, Chain>& chains(Family f) const { return f == Family::V4 ? chains_v4 : chains_v6; }
  std::map<std::string, Chain>& chains(Family f) { return f == Family::V4 ? chains_v4 : chains_v6; }
};

// Names of sets and chains (both families) whose contents may differ from
// the last report.
struct Changes {
  bool all = false;  // everything (after a full render)
  std::set<std::string> sets;
  std::set<std::string> chains;
  bool empty() const { return !all && sets.empty() && chains.empty(); }
  void merge(const Changes& o) {
    all = all || o.all;
    sets.insert(o.sets.begin(), o.sets.end());
    chains.insert(o.chains.begin(), o.chains.end());
  }
};

}  // namespace bpfence::ipt
