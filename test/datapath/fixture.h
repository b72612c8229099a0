// The datapath test fixture: a real BpfDataplane on a unique pin folder,
// filled by the real compiler from Kubernetes objects, with each local pod
// bound to a veth of the test's private network namespace, and
// packets run through the loaded programs with BPF_PROG_TEST_RUN.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpfence/bpf_dataplane.h"
#include "bpfence/compiler.h"
#include "bpfence/model.h"
#include "packets.h"

namespace bpfence::testdp {

constexpr int kPass = 0;   // TC_ACT_OK
constexpr int kDrop = 2;   // TC_ACT_SHOT

// Moves the process into a fresh network namespace once, so interfaces and
// filters the tests create vanish with it. Call before any thread starts.
void enter_private_netns();
// Runs a shell command; throws with its text on failure.
void sh(const std::string& cmd);

// --- building Kubernetes objects -------------------------------------------
Namespace make_ns(const std::string& name, Labels labels = {});
Pod make_pod(const std::string& ns, const std::string& name, Labels labels, std::vector<std::string> ips,
             const std::string& node = "n1", std::vector<ContainerPort> ports = {});
LabelSelector sel(Labels labels);
PolicyPeer pod_peer(Labels labels);
PolicyPeer ns_peer(Labels labels);
PolicyPeer cidr_peer(const std::string& cidr, std::vector<std::string> except = {});
PolicyPort port(uint16_t p, Protocol proto = Protocol::TCP, std::optional<uint16_t> end = std::nullopt);
PolicyPort named_port(const std::string& name, Protocol proto = Protocol::TCP);
NetworkPolicy ingress_policy(const std::string& ns, const std::string& name, Labels selector,
                             std::vector<PolicyRule> rules);
NetworkPolicy egress_policy(const std::string& ns, const std::string& name, Labels selector,
                            std::vector<PolicyRule> rules);

class Fixture {
 public:
  explicit Fixture(std::vector<std::string> host_ips = {"10.0.0.1"});
  ~Fixture();
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  Compiler& compiler() { return compiler_; }
  // The state last applied: the compiler's, plus the cluster_policy entries
  // written by hand below.
  const DesiredState& state() const { return state_; }
  BpfDataplane& dataplane() { return *dp_; }
  const std::string& pin_dir() const { return pin_dir_; }

  // Compile, apply the diff, bind local pods that are not bound yet (to a
  // new dummy interface, or to the one given with use_interface()).
  void commit();
  void use_interface(const std::string& pod, const std::string& ifname) { preset_[pod] = ifname; }

  // cluster_policy entries added on top of the compiled state at the next
  // commit(), as the compiler emits them (one per port prefix), with the
  // endpoint's cnp_stages bit and a CIDR identity for `cidr` when given.
  // Replaces the entry of the same key.
  struct CnpEntry {
    std::string pod;
    bf_direction dir = BF_DIR_INGRESS;
    bf_tier tier = BF_TIER_ADMIN;
    uint32_t peer = 0;  // identity; 0 with `cidr` set: the prefix's CIDR identity
    std::string cidr;   // "10.0.0.0/24": named in the cidrs map
    uint8_t proto = 0;
    uint16_t port = 0;
    uint8_t port_bits = 0;
    uint32_t rank = 0;
    CnpRuleRef rule;
  };
  void add_cnp(const CnpEntry& e);
  void clear_cnp();
  // The identity of a pod address in the committed state.
  uint32_t identity_of(const std::string& ip) const;

  // Runs `pkt` through the program of `pod`'s interface: from_pod for
  // BF_DIR_EGRESS (what the pod sends), to_pod for BF_DIR_INGRESS.
  int run(const std::string& pod, bf_direction dir, const testpkt::Bytes& pkt);

  int ifindex(const std::string& pod) const;
  uint32_t endpoint_id(const std::string& pod) const;
  // The flow entry for this 5-tuple at pod's endpoint and direction.
  std::optional<bf_flow_value> flow(const std::string& pod, bf_direction dir, const std::string& src,
                                    const std::string& dst, uint8_t proto, uint16_t sport, uint16_t dport) const;
  // "dev/web ingress[0]" for a rule id, "" for 0.
  std::string rule(uint32_t rule_id) const;
  // Summed over CPUs.
  bf_counter counter(bf_action action, bf_reason reason) const;

 private:
  std::string pin_dir_;
  Compiler compiler_;
  DesiredState state_;
  std::map<ClusterKey, std::pair<ClusterEntry, CnpRuleRef>> cnp_;
  std::map<Prefix, uint32_t> cnp_cidrs_;
  std::map<CnpRuleRef, uint32_t> cnp_rule_ids_;
  std::unique_ptr<BpfDataplane> dp_;
  std::map<std::string, int> ifindex_;
  std::map<std::string, std::string> preset_;
  int next_link_ = 0;
};

bf_flow_key flow_key(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
                     uint16_t dport, bf_direction dir, uint32_t endpoint_id);

}  // namespace bpfence::testdp
