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

// ClusterNetworkPolicy j: Admin (three in four) or Baseline, priorities
// 0-99 (so ties), namespace or pod subjects, Accept / Deny / Pass, namespace,
// pod and networks peers, ports, ranges, and now and then named ports.
inline ClusterNetworkPolicy make_cluster_policy(int j, int apps) {
  auto protocol = [](Protocol proto, uint16_t first, uint16_t last) { return CnpProtocol{proto, first, last, ""}; };
  auto named = [](const std::string& name) { return CnpProtocol{Protocol::TCP, 0, 0, name}; };
  auto app = [&](int k) { return labels_selector({{"app", "app-" + std::to_string(k % apps)}}); };
  ClusterNetworkPolicy p;
  p.name = "cnp-" + std::to_string(j);
  p.tier = j % 4 == 3 ? CnpTier::Baseline : CnpTier::Admin;
  p.priority = j % 100;
  // Most select one app of one environment; one in ten a team's namespaces.
  if (j % 10 == 0)
    p.subject.namespaces = labels_selector({{"team", "team-" + std::to_string(j % 5)}});
  else
    p.subject.pods = CnpPods{labels_selector({{"env", j % 4 ? "prod" : "dev"}}), app(j)};
  const CnpAction action = static_cast<CnpAction>(j % 3);

  // The frontends of one namespace.
  CnpRule from_ns{"from-frontends", action, {}, {protocol(Protocol::TCP, static_cast<uint16_t>(8000 + j % 100), 8000 + j % 100)}};
  from_ns.peers.push_back(CnpPeer{
      std::nullopt,
      CnpPods{labels_selector({{"kubernetes.io/metadata.name", "ns-" + std::to_string(j % 50)}}),
              labels_selector({{"tier", "frontend"}})},
      {}});
  if (j % 10 == 5) from_ns.protocols.push_back(protocol(Protocol::TCP, 30000, static_cast<uint16_t>(30001 + j % 1000)));
  p.ingress.push_back(from_ns);
  if (j % 5 == 0) {
    CnpRule scrape{"scrape", CnpAction::Accept, {}, {named("metrics")}};
    scrape.peers.push_back(CnpPeer{std::nullopt, CnpPods{LabelSelector{}, app(j + 1)}, {}});
    p.ingress.push_back(scrape);
  }

  CnpRule metadata{"no-metadata", CnpAction::Deny, {}, {}};
  metadata.peers.push_back(CnpPeer{std::nullopt, std::nullopt, {*Prefix::parse("169.254.169.254/32")}});
  p.egress.push_back(metadata);
  if (j % 7 == 0) {
    CnpRule partner{"partner", CnpAction::Accept, {}, {protocol(Protocol::TCP, 443, 443)}};
    partner.peers.push_back(
        CnpPeer{std::nullopt, std::nullopt, {*Prefix::parse("172." + std::to_string(16 + j % 16) + ".0.0/16")}});
    p.egress.push_back(partner);
  }
  if (j % 50 == 0) {
    CnpRule by_name{"metrics-by-name", CnpAction::Accept, {}, {named("metrics")}};
    by_name.peers.push_back(CnpPeer{std::nullopt, CnpPods{labels_selector({{"team", "team-0"}}), app(j + 3)}, {}});
    p.egress.push_back(by_name);
  }
  CnpRule pods{"pods-passed", CnpAction::Pass, {}, {}};
  pods.peers.push_back(CnpPeer{LabelSelector{}, std::nullopt, {}});
  p.egress.push_back(pods);
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
