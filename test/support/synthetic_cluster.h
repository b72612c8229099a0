// A deterministic synthetic cluster for scale tests and benchmarks: pods
// spread over namespaces and apps, a share of them on the local node, and
// policies mixing pod selectors, namespace selectors (AND and OR), ipBlocks
// with except, ports, ranges and named ports, in both directions.
#pragma once

#include <string>
#include <vector>

#include "bpfence/model.h"

namespace bpfence::synthetic {

struct Cluster {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;
};

inline LabelSelector labels_selector(Labels l) {
  LabelSelector s;
  s.match_labels = std::move(l);
  return s;
}

inline NetworkPolicy make_policy(int j, int namespaces, int apps) {
  NetworkPolicy p;
  p.namespace_ = "ns-" + std::to_string(j % namespaces);
  p.name = "policy-" + std::to_string(j);
  p.pod_selector = labels_selector({{"app", "app-" + std::to_string(j % apps)}});
  PolicyRule from_app;
  PolicyPeer peer;
  peer.pod_selector = labels_selector({{"app", "app-" + std::to_string((j + 1) % apps)}});
  from_app.peers.push_back(peer);
  PolicyPeer and_peer;
  and_peer.namespace_selector = labels_selector({{"team", "team-" + std::to_string(j % 5)}});
  and_peer.pod_selector = labels_selector({{"tier", "frontend"}});
  from_app.peers.push_back(and_peer);
  PolicyPort port;
  port.port = static_cast<uint16_t>(8000 + j % 100);
  from_app.ports.push_back(port);
  PolicyPort named;
  named.port_name = "metrics";
  from_app.ports.push_back(named);
  p.ingress.push_back(from_app);
  if (j % 4 == 0) {
    PolicyRule from_cidr;
    PolicyPeer block;
    IpBlock b;
    b.cidr = *Prefix::parse("172." + std::to_string(16 + j % 16) + ".0.0/16");
    b.except.push_back(*Prefix::parse("172." + std::to_string(16 + j % 16) + "." + std::to_string(j % 256) + ".0/24"));
    block.ip_block = b;
    from_cidr.peers.push_back(block);
    PolicyPort range;
    range.port = 30000;
    range.end_port = static_cast<uint16_t>(30000 + j % 1000);
    from_cidr.ports.push_back(range);
    p.ingress.push_back(from_cidr);
  }
  if (j % 3 == 0) {
    p.policy_types = {"Ingress", "Egress"};
    PolicyRule to_db;
    PolicyPeer db;
    db.namespace_selector = LabelSelector{};
    db.pod_selector = labels_selector({{"app", "app-" + std::to_string((j + 7) % apps)}});
    to_db.peers.push_back(db);
    PolicyPort pg;
    pg.port = 5432;
    to_db.ports.push_back(pg);
    p.egress.push_back(to_db);
    p.egress_present = true;
  }
  return p;
}

// `pods` pods over `namespaces` namespaces and `apps` apps; every
// (pods / local)-th pod is on node-a.
inline Cluster make(int pods, int policies, int local, int namespaces = 50, int apps = 40) {
  Cluster c;
  for (int n = 0; n < namespaces; ++n) {
    std::string name = "ns-" + std::to_string(n);
    c.namespaces.push_back({name,
                            {{"kubernetes.io/metadata.name", name},
                             {"team", "team-" + std::to_string(n % 5)},
                             {"env", n % 2 ? "prod" : "dev"}},
                            ""});
  }
  int stride = local > 0 ? pods / local : pods + 1;
  for (int i = 0; i < pods; ++i) {
    Pod p;
    p.namespace_ = "ns-" + std::to_string(i % namespaces);
    p.name = "pod-" + std::to_string(i);
    p.labels = {{"app", "app-" + std::to_string((i / namespaces) % apps)},
                {"tier", i % 3 == 0 ? "frontend" : "backend"}};
    p.node_name = i % stride == 0 ? "node-a" : "node-" + std::to_string(1 + i % 20);
    p.ips.push_back(IpAddress::from_v4((10u << 24) | (1u << 16) | static_cast<uint32_t>(i)));
    p.ports.push_back({"metrics", 9090, Protocol::TCP});
    c.pods.push_back(std::move(p));
  }
  for (int j = 0; j < policies; ++j) c.policies.push_back(make_policy(j, namespaces, apps));
  return c;
}

}  // namespace bpfence::synthetic
