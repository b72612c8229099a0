// A small cluster for compiler tests: namespaces and pods built in C++,
// policies written as YAML (as operators write them), and a probe helper
// that asks the compiler's verdict() by pod name.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/parse.h"

namespace bpfence::test {

struct Cluster {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;
  std::vector<ClusterNetworkPolicy> cluster_policies;
  std::vector<IpAddress> host_ips;

  Cluster& ns(const std::string& name, Labels labels = {}) {
    labels["kubernetes.io/metadata.name"] = name;
    namespaces.push_back({name, labels, ""});
    return *this;
  }

  // ip may be "10.0.0.1" or "10.0.0.1,fd00::1"; ports like "http:80/TCP".
  Cluster& pod(const std::string& key, const std::string& ips, Labels labels = {},
               std::vector<std::string> ports = {}, const std::string& node = "node-a") {
    Pod p;
    p.namespace_ = key.substr(0, key.find('/'));
    p.name = key.substr(key.find('/') + 1);
    p.labels = std::move(labels);
    p.node_name = node;
    size_t start = 0;
    while (start < ips.size()) {
      size_t comma = ips.find(',', start);
      auto ip = IpAddress::parse(ips.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      REQUIRE(ip);
      p.ips.push_back(*ip);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (const auto& spec : ports) {
      ContainerPort cp;
      auto colon = spec.find(':'), slash = spec.find('/');
      cp.name = colon == std::string::npos ? "" : spec.substr(0, colon);
      size_t num_at = colon == std::string::npos ? 0 : colon + 1;
      cp.port = static_cast<uint16_t>(std::stoi(spec.substr(num_at, slash - num_at)));
      cp.protocol = *parse_protocol(slash == std::string::npos ? "TCP" : spec.substr(slash + 1));
      p.ports.push_back(cp);
    }
    pods.push_back(std::move(p));
    return *this;
  }

  Cluster& policy(const std::string& yaml) {
    auto result = parse_manifests(yaml, "test.yaml");
    for (const auto& e : result.errors) FAIL("policy does not parse: " << e.str());
    for (auto& o : result.objects) {
      if (auto* cnp = std::get_if<ClusterNetworkPolicy>(&o)) {
        cluster_policies.push_back(*cnp);
        continue;
      }
      REQUIRE(std::holds_alternative<NetworkPolicy>(o));
      policies.push_back(std::get<NetworkPolicy>(o));
    }
    return *this;
  }

  Compiler compile(const std::string& node = "") const {
    Compiler c({node, host_ips});
    for (const auto& n : namespaces) c.upsert(n);
    for (const auto& p : pods) c.upsert(p);
    for (const auto& p : policies) c.upsert(p);
    for (const auto& p : cluster_policies) c.upsert(p);
    c.commit();
    return c;
  }
};

// A commit's diff applied to a copy of the maps, as a dataplane does.
template <class Map, class K, class V>
void apply_map(Map& m, const MapDiff<K, V>& d) {
  for (const auto& k : d.erase) m.erase(k);
  for (const auto& [k, v] : d.upsert) m[k] = v;
}

inline void apply(DesiredState& s, const StateDiff& d) {
  apply_map(s.endpoints, d.endpoints);
  apply_map(s.pod_addrs, d.pod_addrs);
  apply_map(s.cidrs, d.cidrs);
  apply_map(s.policy, d.policy);
  apply_map(s.ranges, d.ranges);
  apply_map(s.rules, d.rules);
  apply_map(s.cluster, d.cluster);
  apply_map(s.cluster_rules, d.cluster_rules);
}

// The maps a dataplane holds are equal.
inline bool same_maps(const DesiredState& a, const DesiredState& b) {
  return a.endpoints == b.endpoints && a.pod_addrs == b.pod_addrs && a.cidrs == b.cidrs && a.policy == b.policy &&
         a.ranges == b.ranges && a.rules == b.rules && a.cluster == b.cluster && a.cluster_rules == b.cluster_rules;
}

// The lint warnings on one policy ("ns/name", or "cnp/name").
inline std::vector<std::string> lint_messages(const Compiler& c, const std::string& policy) {
  std::vector<std::string> out;
  for (const auto& w : c.warnings())
    if (w.policy == policy) out.push_back(w.message);
  return out;
}

// "ns/name" of a pod in the compiler's cluster, or a literal IP.
inline IpAddress address_of(const Compiler& c, const std::string& who) {
  if (auto ip = IpAddress::parse(who)) return *ip;
  auto it = c.pods().find(who);
  if (it == c.pods().end()) FAIL("no pod " << who);
  return it->second.ips.front();
}

// port: "80/TCP", "53/UDP", "9/SCTP", "ICMP".
inline Verdict probe(const Compiler& c, const std::string& from, const std::string& to, const std::string& port) {
  uint8_t proto = 1;
  uint16_t number = 0;
  if (port != "ICMP") {
    auto slash = port.find('/');
    number = static_cast<uint16_t>(std::stoi(port.substr(0, slash)));
    proto = static_cast<uint8_t>(*parse_protocol(port.substr(slash + 1)));
  }
  auto src = address_of(c, from), dst = address_of(c, to);
  if (!src.is_v4() && proto == 1) proto = 58;
  return c.verdict(src, dst, proto, number);
}

inline bool allowed(const Compiler& c, const std::string& from, const std::string& to, const std::string& port) {
  return probe(c, from, to, port).allowed;
}

}  // namespace bpfence::test
