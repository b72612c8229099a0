// Conformance scenarios: a small cluster (namespaces, pods with ports,
// external hosts), steps that apply policies, and for each step the expected
// truth table, written by hand from the Kubernetes semantics.
//
// The same files drive the unit tests (the compiler's verdict()) and the lab
// (real packets through the datapath, same node and across nodes), so both
// are held to one hand-written expectation.
//
// Expectations are ordered rules; the last rule that matches a probe wins:
//   "* -> * * allow"                        everything allowed
//   "* -> default/web * deny"               nothing reaches default/web
//   "prod/* -> default/web 80/TCP allow"    namespace wildcard, one port
//   "external -> default/web ICMP deny"     an external host by name
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpfence/model.h"
#include "bpfence/result.h"

namespace bpfence {

struct ProbePort {
  uint8_t proto = 6;  // 6 TCP, 17 UDP, 132 SCTP, 1 ICMP (58 for IPv6)
  uint16_t port = 0;
  std::string str() const;  // "80/TCP", "ICMP"
  static std::optional<ProbePort> parse(const std::string& text);
  auto operator<=>(const ProbePort&) const = default;
};

struct ScenarioHost {
  std::string name;  // "ns/pod" for pods, a bare name for external hosts
  Labels labels;
  std::vector<ProbePort> ports;  // listeners (TCP/UDP/SCTP)
  std::map<ProbePort, std::string> port_names;  // "api-port:5000/TCP" names 5000/TCP
  std::string ip;                // fixed address, or "" to assign one
  bool ip_fixed = false;         // the scenario gave the address (else the loader did)
  bool external = false;
};

struct ExpectRule {
  std::string from, to;  // "*", "ns/*", "ns/name", external name
  std::string port;      // "*", "80/TCP", "ICMP"
  bool allow = true;
};

struct ScenarioStep {
  std::string name;
  std::vector<NetworkPolicy> apply;  // upserted, in order
  std::vector<ClusterNetworkPolicy> apply_cluster;  // upserted, in order (same files as `apply`)
  std::vector<std::string> remove;   // policies deleted (ns/name)
  std::vector<std::string> remove_cluster;  // ClusterNetworkPolicies deleted (name)
  std::vector<Namespace> relabel;    // namespaces upserted
  std::vector<ExpectRule> expect;
};

struct Probe {
  std::string from, to;
  ProbePort port;
};

// The objects in force after some steps: the scenario's namespaces as
// relabelled, and the policies applied and not removed, in first-applied
// order (a re-applied policy keeps its place).
struct ScenarioObjects {
  std::vector<Namespace> namespaces;
  std::vector<NetworkPolicy> policies;
  std::vector<ClusterNetworkPolicy> cluster_policies;
};

struct Scenario {
  std::string name;  // file stem
  std::string description;
  // Why the scenario has no IPv6 twin (`ipv4_only:`), or "": the unit tests
  // and the lab's IPv6 runs run it again with every address moved to IPv6
  // (move_to_ipv6), which holds when its policies name no IPv4 prefix.
  std::string ipv4_only;
  std::vector<Namespace> namespaces;
  std::vector<ScenarioHost> hosts;  // pods first, then external hosts
  std::vector<ScenarioStep> steps;

  // Every host to every other host's ports, plus ICMP; pods only as
  // destinations unless an external host declares ports.
  std::vector<Probe> probes() const;
  bool expected(const ScenarioStep& step, const Probe& probe) const;
  // Pods as Kubernetes objects (IPs assigned), placed by `node_of`.
  std::vector<Pod> pods(const std::function<std::string(size_t index)>& node_of) const;
  std::string ip_of(const std::string& host) const;
  // Steps 1..steps applied (0: no policy).
  ScenarioObjects objects_after(int steps) const;
  // The first host with an IPv6 address, or "".
  std::string first_ipv6_host() const;
};

// A scenario's IPv4 address moved to IPv6: a.b.c.d becomes fd00::a.b.c.d
// (written so, the IPv4 address stays readable in tables and logs).
std::string ipv6_twin(const std::string& ipv4);

// The scenario over IPv6: every host's address becomes its ipv6_twin, so the
// same truth tables must hold (selectors do not care about the family;
// `::/0` takes the place of `0.0.0.0/0` in the policies). A scenario whose
// policies name IPv4 prefixes cannot move: the error is its `ipv4_only:`
// reason. One already on IPv6 (an IPv6 sibling file) is left as it is.
Status move_to_ipv6(Scenario& sc);

// Loads a scenario file. Policy files it names are looked up in the
// scenario's own folder, then in `policy_dirs` in order (test/conformance,
// whose recipes/ holds the conformance recipes, then manifests/). A file
// may hold NetworkPolicies and ClusterNetworkPolicies; "file.yaml#2" takes
// only its second policy of either kind.
Status load_scenario(const std::string& path, const std::vector<std::string>& policy_dirs, Scenario& out);

}  // namespace bpfence
