// The case of a named egress port towards an ipBlock, shared by the
// compiler's semantics test and the iptables equivalence test, so both
// dataplanes' inputs are the same cluster: a client whose egress allows the
// name serve-80-tcp to 10.244.0.0/16 except 10.244.1.10 (and the IPv6
// block fd00:244::/64 except fd00:244::1:0/112), and UDP 53 to the block.
#pragma once

#include "cluster.h"

namespace bpfence::test {

inline Cluster named_port_ipblock_cluster() {
  Cluster cl;
  cl.ns("default");
  cl.pod("default/client", "10.244.2.11,fd00:244::11", {{"app", "client"}});
  cl.pod("default/server", "10.244.2.10,fd00:244::10", {{"app", "server"}}, {"serve-80-tcp:80/TCP"}, "node-b");
  // Same labels (so the same identity) and port, but at an excepted address
  // and outside the block: neither may be reached through the block.
  cl.pod("default/excepted", "10.244.1.10,fd00:244::1:10", {{"app", "server"}}, {"serve-80-tcp:80/TCP"}, "node-b");
  cl.pod("default/outside", "10.245.0.10,fd00:245::10", {{"app", "server"}}, {"serve-80-tcp:80/TCP"}, "node-b");
  // The same name on another number, and a pod without it.
  cl.pod("default/alt", "10.244.3.10,fd00:244::3:10", {{"app", "alt"}}, {"serve-80-tcp:8080/TCP"}, "node-b");
  cl.pod("default/plain", "10.244.4.10", {{"app", "plain"}}, {"other:80/TCP"}, "node-b");
  cl.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: client-out, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.10/32]}
    - ipBlock: {cidr: "fd00:244::/64", except: ["fd00:244::1:0/112"]}
    ports: [{port: serve-80-tcp}]
  - to: [{ipBlock: {cidr: 10.244.0.0/16}}]
    ports: [{port: 53, protocol: UDP}]
)");
  return cl;
}

}  // namespace bpfence::test
