// The Kubernetes objects bpfence reads, as plain typed values: Namespace,
// Pod, NetworkPolicy (networking.k8s.io/v1) and ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2). Sources (manifest files, the
// API server) produce these; nothing downstream knows where they came from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpfence/net.h"

namespace bpfence {

using Labels = std::map<std::string, std::string>;

// Pod annotation: comma-separated prefixes the pod may send from beside its
// own addresses, e.g. "10.9.0.0/16,fd00:9::/64".
inline constexpr const char* kAllowedSourcePrefixes = "bpfence.io/allowed-source-prefixes";

enum class Protocol : uint8_t { TCP = 6, UDP = 17, SCTP = 132 };

struct LabelRequirement {
  enum class Op { In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;
};

// metav1.LabelSelector. An empty selector matches everything.
struct LabelSelector {
  Labels match_labels;
  std::vector<LabelRequirement> match_expressions;

  bool matches(const Labels& labels) const;
  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
};

struct Namespace {
  std::string name;
  Labels labels;  // always carries kubernetes.io/metadata.name
  std::string resource_version;
};

struct ContainerPort {
  std::string name;  // may be empty
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;
  bool operator==(const ContainerPort&) const = default;
};

struct Pod {
  std::string namespace_;
  std::string name;
  Labels labels;
  std::string node_name;
  std::vector<IpAddress> ips;  // status.podIPs (or podIP), v4 and/or v6
  // Prefixes the pod may send from beside its own addresses (a pod that
  // routes or ends tunnels), from the annotation kAllowedSourcePrefixes.
  std::vector<Prefix> allowed_source_prefixes;
  bool host_network = false;
  std::vector<ContainerPort> ports;
  std::string resource_version;

  std::string key() const { return namespace_ + "/" + name; }
  // Equal in everything policy depends on (resourceVersion aside).
  bool same_for_policy(const Pod& o) const {
    return labels == o.labels && node_name == o.node_name && ips == o.ips && host_network == o.host_network &&
           ports == o.ports && allowed_source_prefixes == o.allowed_source_prefixes;
  }
};

struct IpBlock {
  Prefix cidr;
  std::vector<Prefix> except;
};

struct PolicyPeer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;
};

struct PolicyPort {
  std::optional<Protocol> protocol;  // unset means TCP
  // Unset port: every port of the protocol. A named port is resolved against
  // the destination pod's container ports.
  std::optional<uint16_t> port;
  std::string port_name;
  std::optional<uint16_t> end_port;

  Protocol proto() const { return protocol.value_or(Protocol::TCP); }
};

struct PolicyRule {
  std::vector<PolicyPeer> peers;  // empty: every peer
  std::vector<PolicyPort> ports;  // empty: every port and protocol
};

struct NetworkPolicy {
  std::string namespace_;
  std::string name;
  LabelSelector pod_selector;
  // As written; see affects_ingress()/affects_egress() for the defaulting.
  std::vector<std::string> policy_types;
  std::vector<PolicyRule> ingress;
  std::vector<PolicyRule> egress;
  bool egress_present = false;  // `egress` key present (even empty)
  std::string resource_version;

  std::string key() const { return namespace_ + "/" + name; }
  bool affects_ingress() const;
  bool affects_egress() const;
};

// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): cluster-wide
// rules in two tiers around the NetworkPolicies. Admin rules come before
// them, Baseline rules after; inside a tier, lower priority first and rule
// order within a policy.
enum class CnpTier : uint8_t { Admin, Baseline };
enum class CnpAction : uint8_t { Accept, Deny, Pass };

// NamespacedPod: an unset namespace selector is every namespace (a CNP has
// no namespace of its own to default to).
struct CnpPods {
  LabelSelector namespace_selector;
  LabelSelector pod_selector;
};

// Exactly one member is set (the validator guarantees it).
struct CnpSubject {
  std::optional<LabelSelector> namespaces;
  std::optional<CnpPods> pods;
};

struct CnpPeer {
  std::optional<LabelSelector> namespaces;
  std::optional<CnpPods> pods;
  std::vector<Prefix> networks;  // egress only; host bits cleared
  // The experimental `nodes` and `domainNames` peers are refused by the
  // parser: bpfence does not enforce them.
};

// One protocols entry: tcp/udp/sctp with a destination port or range, or a
// named port resolved on the destination pod.
struct CnpProtocol {
  Protocol protocol = Protocol::TCP;  // unused for a named port
  uint16_t port = 0;                  // first port
  uint16_t end_port = 0;              // last port (== port for a number)
  std::string named_port;             // set: destinationNamedPort
};

struct CnpRule {
  std::string name;  // optional, for display only
  CnpAction action = CnpAction::Deny;
  std::vector<CnpPeer> peers;          // from / to: any matches
  std::vector<CnpProtocol> protocols;  // empty: every protocol and port
};

struct ClusterNetworkPolicy {
  std::string name;
  CnpTier tier = CnpTier::Admin;
  int32_t priority = 0;
  CnpSubject subject;
  std::vector<CnpRule> ingress;
  std::vector<CnpRule> egress;
  std::string resource_version;

  std::string key() const { return name; }
};

const char* cnp_tier_name(CnpTier t);

// A namespace's labels as selectors see them: its own, plus
// kubernetes.io/metadata.name (also for a namespace with no object).
Labels namespace_labels_of(const std::map<std::string, Namespace>& namespaces, const std::string& ns);
// Whether a ClusterNetworkPolicy's subject selects the pod (host-network
// pods included: callers that skip them say so).
bool cnp_subject_selects(const CnpSubject& s, const Pod& pod, const std::map<std::string, Namespace>& namespaces);
const char* cnp_action_name(CnpAction a);

const char* protocol_name(Protocol p);
std::optional<Protocol> parse_protocol(std::string_view name);

}  // namespace bpfence
