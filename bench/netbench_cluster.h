// The network benchmark's cluster: a few real pods (a client and two
// servers, which have network namespaces in the lab) among many synthetic
// ones (only in the manifests, on nodes that do not exist), and policies
// that all select the servers, so every dataplane has to evaluate them for
// the measured traffic. See bench/README.md for the shapes and why.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bpfence::bench {

// The real pods of the benchmark; their node names come from the lab.
struct RealPods {
  std::string client_node, server_local_node, server_remote_node;
};

// The real pods' namespace, named to sort after the synthetic ones (ns-*).
inline constexpr const char* kBenchNs = "zz-bench";
inline constexpr const char* kClientIp = "10.244.0.10";
inline constexpr const char* kServerRemoteIp = "10.244.0.11";  // on the other node
inline constexpr const char* kServerLocalIp = "10.244.0.12";   // on the client's node
inline constexpr int kIperfPort = 5201;     // TCP and UDP
inline constexpr int kNetloadPort = 7000;   // TCP ping-pong and connect rate
inline constexpr int kToggleUdpPort = 9000; // the update-latency stream
inline constexpr int kDeniedTcpPort = 10000;  // a filler policy's port: open to others, not to the client

// The whole cluster as one `kind: List`: `pods` pods in total (3 real, 1 placeholder) and
// `policies` NetworkPolicies selecting the servers (policies - 1 fillers,
// then the one admitting the client's measured traffic). The toggled policy
// (one more, also selecting the servers) lives in its own file
// (toggle_manifest) so that an update re-reads a few hundred bytes, not the
// cluster.
//
// `round` goes into a label of the client, so each write gives the client a
// new identity with an id above every synthetic pod's: the iptables
// renderer orders rules by peer set (sorted identity ids), so the rule
// admitting the client comes after every filler's, at the end of the
// server's chain. That holds because no lower id is ever free for it to
// reuse (the compiler reuses the smallest free id): the synthetic pods'
// label sets (80) are all present from 80 pods on, and a placeholder pod
// keeps the identity the client had in the lab's first cluster
// (`app: client-initial`) alive.
std::string cluster_manifest(int pods, int policies, const RealPods& real, int round);

// The policy the update-latency rounds flip: admits the client's UDP stream
// on kToggleUdpPort (allow) or on the port next to it (deny).
std::string toggle_manifest(bool allow);

}  // namespace bpfence::bench
