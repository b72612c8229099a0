// The compiled ClusterNetworkPolicy entries against the object-level
// evaluation (cluster_tiers.cpp, written as the specification states it):
// random clusters (namespaces, pods with dual-stack addresses and named
// ports, NetworkPolicies, Admin and Baseline policies with Accept, Deny and
// Pass, pods / namespaces / networks peers, port numbers, ranges and named
// ports), random changes, and after each commit every probe's verdict read
// from the entries must equal the tiers evaluated from the objects, and the
// incremental state must equal a full compile.
#include <functional>
#include <random>

#include "../../agent/compiler/cluster_tiers.h"
#include "cluster.h"

using namespace bpfence;
using bpfence::test::apply;
using bpfence::test::same_maps;

namespace {

constexpr const char* kNodeV4 = "172.18.0.2";
constexpr const char* kNodeV6 = "fd00:ff::2";

struct World {
  std::mt19937 rng;
  explicit World(uint32_t seed) : rng(seed) {}

  int pick(int n) { return static_cast<int>(rng() % n); }
  bool chance(int percent) { return pick(100) < percent; }
  template <class T>
  const T& one_of(const std::vector<T>& v) {
    return v[pick(static_cast<int>(v.size()))];
  }

  LabelSelector selector(const std::vector<Labels>& choices, int empty_percent) {
    LabelSelector s;
    if (!chance(empty_percent)) s.match_labels = one_of(choices);
    return s;
  }
  LabelSelector ns_selector(int empty_percent = 25) {
    return selector({{{"env", "prod"}}, {{"env", "dev"}}, {{"kubernetes.io/metadata.name", "ns-1"}}}, empty_percent);
  }
  LabelSelector pod_selector(int empty_percent = 25) {
    return selector({{{"app", "web"}}, {{"app", "db"}}, {{"app", "client"}}, {{"tier", "fe"}}}, empty_percent);
  }

  Namespace make_namespace(int i) {
    Namespace n{"ns-" + std::to_string(i), {}, ""};
    n.labels["kubernetes.io/metadata.name"] = n.name;
    n.labels["env"] = chance(50) ? "prod" : "dev";
    return n;
  }

  Pod make_pod(int i) {
    Pod p;
    p.namespace_ = "ns-" + std::to_string(i % 3);
    p.name = "pod-" + std::to_string(i);
    p.labels["app"] = one_of<std::string>({"web", "db", "client"});
    if (chance(40)) p.labels["tier"] = "fe";
    p.node_name = chance(55) ? "node-a" : "node-b";
    // Now and then a remote pod at an address another pod holds (a
    // restarted pod's).
    int host = p.node_name == "node-b" && chance(25) ? pick(12) : i;
    p.ips.push_back(IpAddress::from_v4((10u << 24) | (static_cast<uint32_t>(host % 3) << 8) | (10u + host)));
    if (chance(50)) p.ips.push_back(*IpAddress::parse("fd00::" + std::to_string(10 + host)));
    auto named = [&](const std::string& name, std::vector<uint16_t> numbers, Protocol proto) {
      if (chance(45)) p.ports.push_back({name, one_of(numbers), proto});
    };
    named("http", {80, 8080}, Protocol::TCP);
    named("dns", {53}, Protocol::UDP);
    named("metrics", {9090, 1500}, Protocol::TCP);
    return p;
  }

  CnpProtocol cnp_protocol() {
    CnpProtocol p;
    switch (pick(8)) {
      case 0: p = {Protocol::TCP, 80, 80, ""}; break;
      case 1: p = {Protocol::TCP, 1000, 2000, ""}; break;
      case 2: p = {Protocol::TCP, 1500, 1500, ""}; break;
      case 3: p = {Protocol::TCP, 1, 65535, ""}; break;
      case 4: p = {Protocol::UDP, 53, 53, ""}; break;
      case 5: p = {Protocol::SCTP, 9, 9, ""}; break;
      default: p.named_port = one_of<std::string>({"http", "dns", "metrics"});
    }
    return p;
  }

  CnpPeer cnp_peer(bool egress) {
    CnpPeer peer;
    int kind = pick(egress ? 3 : 2);
    if (kind == 0) {
      peer.namespaces = ns_selector();
    } else if (kind == 1) {
      peer.pods = CnpPods{ns_selector(), pod_selector()};
    } else {
      static const std::vector<std::string> nets = {"10.0.0.0/16", "10.0.1.0/24", "10.0.1.11/32", "0.0.0.0/0",
                                                    "::/0",        "fd00::/64",   "fd00::13/128", "172.18.0.0/16",
                                                    "192.0.2.0/24"};
      int n = 1 + pick(2);
      for (int i = 0; i < n; ++i) peer.networks.push_back(*Prefix::parse(one_of(nets)));
    }
    return peer;
  }

  CnpRule cnp_rule(bool egress, int index) {
    CnpRule r;
    r.name = chance(50) ? "r" + std::to_string(index) : "";
    r.action = static_cast<CnpAction>(pick(3));
    int peers = 1 + pick(2);
    for (int i = 0; i < peers; ++i) r.peers.push_back(cnp_peer(egress));
    if (!chance(30)) {
      int n = 1 + pick(2);
      for (int i = 0; i < n; ++i) r.protocols.push_back(cnp_protocol());
    }
    return r;
  }

  ClusterNetworkPolicy make_cnp(int i) {
    ClusterNetworkPolicy p;
    p.name = "cnp-" + std::to_string(i);
    p.tier = chance(60) ? CnpTier::Admin : CnpTier::Baseline;
    p.priority = pick(3);  // ties are frequent: the name breaks them
    if (chance(50))
      p.subject.namespaces = ns_selector(30);
    else
      p.subject.pods = CnpPods{ns_selector(), pod_selector()};
    int ingress = pick(4), egress = pick(4);
    for (int r = 0; r < ingress; ++r) p.ingress.push_back(cnp_rule(false, r));
    for (int r = 0; r < egress; ++r) p.egress.push_back(cnp_rule(true, r));
    return p;
  }

  PolicyRule np_rule() {
    PolicyRule r;
    int peers = pick(3);
    for (int i = 0; i < peers; ++i) {
      PolicyPeer peer;
      switch (pick(4)) {
        case 0: peer.pod_selector = pod_selector(); break;
        case 1: peer.namespace_selector = ns_selector(); break;
        case 2: peer.ip_block = IpBlock{*Prefix::parse("10.0.0.0/16"), {*Prefix::parse("10.0.1.0/24")}}; break;
        default: peer.ip_block = IpBlock{*Prefix::parse("fd00::/64"), {}};
      }
      r.peers.push_back(peer);
    }
    int ports = pick(3);
    for (int i = 0; i < ports; ++i) {
      PolicyPort port;
      switch (pick(4)) {
        case 0: port.port = 80; break;
        case 1: port.port = 1000, port.end_port = 2000; break;
        case 2: port.port_name = "http"; break;
        default: port.protocol = Protocol::UDP, port.port = 53;
      }
      r.ports.push_back(port);
    }
    return r;
  }

  NetworkPolicy make_np(int i) {
    NetworkPolicy p;
    p.namespace_ = "ns-" + std::to_string(pick(3));
    p.name = "np-" + std::to_string(i);
    p.pod_selector = pod_selector(40);
    int types = pick(3);
    if (types != 1) p.policy_types.push_back("Ingress");
    if (types != 0) p.policy_types.push_back("Egress");
    int ingress = pick(3), egress = pick(3);
    for (int r = 0; r < ingress; ++r) p.ingress.push_back(np_rule());
    for (int r = 0; r < egress; ++r) p.egress.push_back(np_rule());
    p.egress_present = types != 0;
    return p;
  }
};

std::vector<IpAddress> host_ips() { return {*IpAddress::parse(kNodeV4), *IpAddress::parse(kNodeV6)}; }

Compiler full_compile(const Compiler& from, bool with_cluster_policies) {
  Compiler c({"node-a", host_ips()});
  for (const auto& [_, n] : from.namespaces()) c.upsert(n);
  for (const auto& [_, p] : from.pods()) c.upsert(p);
  for (const auto& [_, p] : from.policies()) c.upsert(p);
  if (with_cluster_policies)
    for (const auto& [_, p] : from.cluster_policies()) c.upsert(p);
  c.commit();
  return c;
}

struct Probe {
  IpAddress src, dst;
  uint8_t proto;
  uint16_t port;
};

std::vector<Probe> probes(const Compiler& c) {
  std::vector<IpAddress> addrs = host_ips();
  for (const auto& [_, pod] : c.pods())
    for (const auto& ip : pod.ips)
      if (std::find(addrs.begin(), addrs.end(), ip) == addrs.end()) addrs.push_back(ip);
  for (const char* ext : {"10.0.1.99", "10.0.2.99", "192.0.2.9", "198.51.100.7", "fd00::99", "2001:db8::1"})
    addrs.push_back(*IpAddress::parse(ext));
  const std::pair<uint8_t, uint16_t> ports[] = {{6, 80},   {6, 8080}, {6, 1500}, {6, 1024}, {6, 9090},
                                                {17, 53},  {17, 5353}, {132, 9},  {1, 0}};
  std::vector<Probe> out;
  for (const auto& s : addrs)
    for (const auto& d : addrs) {
      if (s.is_v4() != d.is_v4()) continue;
      for (auto [proto, port] : ports) out.push_back({s, d, s.is_v4() ? proto : (proto == 1 ? uint8_t{58} : proto), port});
    }
  return out;
}

// The tiers of one side, from the objects, around the NetworkPolicy step of
// a compiler that holds no ClusterNetworkPolicy: Self, Admin, isolated
// NetworkPolicy step (own node exempt there), Baseline, default.
SideVerdict expected_side(const ClusterTierInputs& in, const SideVerdict& np, bf_direction dir, const IpAddress& peer,
                          uint8_t proto, uint16_t port) {
  SideVerdict v = np;
  if (!v.evaluated || v.reason == BF_R_SELF) return v;
  const Pod& subject = in.pods.at(v.pod);
  auto decide = [&](const CnpRuleRef& rule, VerdictTier tier) {
    v.tier = tier;
    v.cnp_rule = rule;
    v.rule.reset();
    v.allowed = rule.action == CnpAction::Accept;
    bool admin = tier == VerdictTier::Admin;
    v.reason = v.allowed ? (admin ? BF_R_ADMIN_ACCEPT : BF_R_BASELINE_ACCEPT)
                         : (admin ? BF_R_ADMIN_DENY : BF_R_BASELINE_DENY);
  };
  TierOutcome admin = evaluate_cluster_tier(in, CnpTier::Admin, subject, dir, peer, proto, port);
  if (admin.decided) {
    decide(*admin.decided, VerdictTier::Admin);
    return v;
  }
  if (admin.passed) v.passed.push_back(*admin.passed);
  if (v.isolated) return v;
  TierOutcome baseline = evaluate_cluster_tier(in, CnpTier::Baseline, subject, dir, peer, proto, port);
  if (baseline.decided) {
    decide(*baseline.decided, VerdictTier::Baseline);
    return v;
  }
  if (baseline.passed) v.passed.push_back(*baseline.passed);
  // Evaluation ended past the tiers when there are any (a policy without
  // rules is as none).
  for (const auto& [_, p] : in.policies)
    if (!p.ingress.empty() || !p.egress.empty()) v.tier = VerdictTier::Default;
  return v;
}

std::string describe(const SideVerdict& v) {
  std::string s = v.evaluated ? v.pod : "-";
  s += std::string(" ") + (v.allowed ? "F(" : "D(") + std::to_string(v.reason) + ") tier=" + verdict_tier_name(v.tier);
  if (v.cnp_rule) s += " " + v.cnp_rule->str();
  for (const auto& p : v.passed) s += " passed:" + p.str();
  return s;
}

bool same_side(const SideVerdict& a, const SideVerdict& b) {
  return a.evaluated == b.evaluated && a.allowed == b.allowed && a.reason == b.reason && a.tier == b.tier &&
         a.cnp_rule == b.cnp_rule && a.passed == b.passed && a.isolated == b.isolated && a.pod == b.pod;
}

// Every probe: the entries' verdict (incremental and full compile) against
// the objects' tiers.
void check_against_objects(const Compiler& inc) {
  Compiler full = full_compile(inc, true);
  Compiler np_only = full_compile(inc, false);
  std::map<IpAddress, std::set<std::string>> addr_pods;
  for (const auto& [key, pod] : inc.pods())
    for (const auto& ip : pod.ips) addr_pods[ip].insert(key);
  ClusterTierInputs in{inc.namespaces(), inc.pods(), addr_pods, inc.cluster_policies()};

  REQUIRE(inc.state().cluster.size() == full.state().cluster.size());
  REQUIRE(inc.state().cluster_rules.size() == full.state().cluster_rules.size());
  if (inc.state().cidrs.size() != full.state().cidrs.size()) {
    for (const auto& [p, _] : inc.state().cidrs) UNSCOPED_INFO("inc " << p.str());
    for (const auto& [p, _] : full.state().cidrs) UNSCOPED_INFO("full " << p.str());
  }
  REQUIRE(inc.state().cidrs.size() == full.state().cidrs.size());
  for (const Probe& p : probes(inc)) {
    Verdict got = inc.verdict(p.src, p.dst, p.proto, p.port);
    Verdict again = full.verdict(p.src, p.dst, p.proto, p.port);
    Verdict np = np_only.verdict(p.src, p.dst, p.proto, p.port);
    SideVerdict want_egress = expected_side(in, np.egress, BF_DIR_EGRESS, p.dst, p.proto, p.port);
    SideVerdict want_ingress = expected_side(in, np.ingress, BF_DIR_INGRESS, p.src, p.proto, p.port);
    INFO(p.src.str() << " -> " << p.dst.str() << " proto " << int(p.proto) << " port " << p.port);
    INFO("egress  got " << describe(got.egress) << "\n        want " << describe(want_egress));
    INFO("ingress got " << describe(got.ingress) << "\n        want " << describe(want_ingress));
    REQUIRE(same_side(got.egress, want_egress));
    REQUIRE(same_side(got.ingress, want_ingress));
    REQUIRE(same_side(again.egress, got.egress));
    REQUIRE(same_side(again.ingress, got.ingress));
    REQUIRE(got.allowed == (want_egress.allowed && want_ingress.allowed));
  }
}

// The diff turns the dataplane's copy into the new state, and every
// endpoint whose cluster entries moved has its cached flows re-decided.
void commit_and_check(Compiler& inc, DesiredState& mirror) {
  StateDiff d = inc.commit();
  apply(mirror, d);
  REQUIRE(same_maps(mirror, inc.state()));
  std::map<uint32_t, std::string> pod_of;
  for (const auto& [pod, ep] : inc.state().endpoints) pod_of[ep.endpoint_id] = pod;
  auto touched = [&](const ClusterKey& k) {
    auto pod = pod_of.find(k.k.endpoint_id);
    return pod == pod_of.end() || d.touched_endpoints.count(pod->second) > 0;
  };
  for (const auto& [k, _] : d.cluster.upsert) REQUIRE(touched(k));
  for (const auto& k : d.cluster.erase) REQUIRE(touched(k));
  // Entries belong to endpoints that exist, and stage bits say exactly
  // which (direction, tier) has entries.
  std::map<uint32_t, uint8_t> stages;
  for (const auto& [k, _] : inc.state().cluster) {
    REQUIRE(pod_of.count(k.k.endpoint_id));
    stages[k.k.endpoint_id] |= BF_CNP_STAGE(k.k.direction, k.k.tier);
  }
  for (const auto& [pod, ep] : inc.state().endpoints) REQUIRE(int(ep.cnp_stages) == int(stages[ep.endpoint_id]));
  check_against_objects(inc);
}

// A small cluster's first commit, checked as every later one.
Compiler compile_checked(const test::Cluster& cl, DesiredState& mirror) {
  Compiler c({"node-a", host_ips()});
  for (const auto& n : cl.namespaces) c.upsert(n);
  for (const auto& p : cl.pods) c.upsert(p);
  for (const auto& p : cl.policies) c.upsert(p);
  for (const auto& p : cl.cluster_policies) c.upsert(p);
  commit_and_check(c, mirror);
  return c;
}

}  // namespace

TEST_CASE("cluster_policy entries decide as the tiers evaluated from the objects, incremental as full",
          "[cnp][incremental]") {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    INFO("seed " << seed);
    World w(seed);
    Compiler inc({"node-a", host_ips()});
    std::vector<Namespace> namespaces;
    std::vector<Pod> pods;
    for (int i = 0; i < 3; ++i) namespaces.push_back(w.make_namespace(i));
    for (int i = 0; i < 12; ++i) pods.push_back(w.make_pod(i));
    // A host-network pod on this node's address: never a peer of a CNP.
    Pod host_pod = w.make_pod(90);
    host_pod.host_network = true;
    host_pod.ips = {*IpAddress::parse(kNodeV4)};
    host_pod.node_name = "node-a";
    pods.push_back(host_pod);
    for (const auto& n : namespaces) inc.upsert(n);
    for (const auto& p : pods) inc.upsert(p);
    for (int i = 0; i < 2; ++i) inc.upsert(w.make_np(i));
    for (int i = 0; i < 4; ++i) inc.upsert(w.make_cnp(i));
    DesiredState mirror;
    commit_and_check(inc, mirror);

    for (int step = 0; step < 30; ++step) {
      switch (w.pick(9)) {
        case 0: {  // relabel, move, re-port or re-address a pod
          Pod fresh = w.make_pod(w.pick(12));
          inc.upsert(fresh);
          break;
        }
        case 1: {  // delete or re-add a pod
          const Pod& p = pods[w.pick(static_cast<int>(pods.size()))];
          if (inc.pods().count(p.key()))
            inc.erase_pod(p.key());
          else
            inc.upsert(p);
          break;
        }
        case 2:  // relabel a namespace
          inc.upsert(w.make_namespace(w.pick(3)));
          break;
        case 3:
        case 4:  // add or edit a ClusterNetworkPolicy
          inc.upsert(w.make_cnp(w.pick(6)));
          break;
        case 5:
          inc.erase_cluster_policy("cnp-" + std::to_string(w.pick(6)));
          break;
        case 6:
          inc.upsert(w.make_np(w.pick(4)));
          break;
        case 7:
          inc.erase_policy("ns-" + std::to_string(w.pick(3)) + "/np-" + std::to_string(w.pick(4)));
          break;
        default: {  // a remote pod joining existing labels: nothing of the CNPs moves
          Pod p = pods[w.pick(12)];
          p.name = "extra-" + std::to_string(step);
          p.node_name = "node-b";
          p.ports.clear();
          p.ips = {IpAddress::from_v4((10u << 24) | (7u << 16) | static_cast<uint32_t>(step))};
          inc.upsert(p);
        }
      }
      if (w.chance(30)) continue;  // sometimes several changes in one commit
      INFO("step " << step);
      commit_and_check(inc, mirror);
    }
  }
}

TEST_CASE("with no ClusterNetworkPolicy a pod event leaves the cluster entries alone", "[cnp][incremental]") {
  World w(99);
  Compiler c({"node-a", host_ips()});
  for (int i = 0; i < 3; ++i) c.upsert(w.make_namespace(i));
  for (int i = 0; i < 12; ++i) c.upsert(w.make_pod(i));
  c.upsert(w.make_np(0));
  c.commit();
  CHECK(c.state().cluster.empty());
  c.upsert(w.make_pod(3));
  StateDiff d = c.commit();
  CHECK(d.cluster.empty());
  CHECK(d.cluster_rules.empty());
  for (const auto& [_, ep] : c.state().endpoints) CHECK(ep.cnp_stages == 0);
}

TEST_CASE("an egress named port follows the pod that owns an address when another pod claims it too",
          "[cnp][incremental]") {
  test::Cluster cl;
  cl.ns("default");
  cl.pod("default/client", "10.0.0.1", {{"app", "client"}}, {}, "node-a");
  cl.pod("default/b-server", "10.0.0.9", {{"app", "server"}}, {"http:80/TCP"}, "node-b");
  cl.policy(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: web-by-name}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {podSelector: {matchLabels: {app: client}}}}
  egress:
  - {action: Accept, to: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}
  - {action: Deny, to: [{namespaces: {}}]}
)");
  DesiredState mirror;
  Compiler inc = compile_checked(cl, mirror);
  const IpAddress client = *IpAddress::parse("10.0.0.1"), server = *IpAddress::parse("10.0.0.9");
  CHECK(inc.verdict(client, server, 6, 80).allowed);

  // A pod of the same identity, without ports, sorting first, claims the
  // address (a restarted pod's old one): it owns it now.
  Pod old = cl.pods[1];
  old.name = "a-old";
  old.ports.clear();
  inc.upsert(old);
  commit_and_check(inc, mirror);
  CHECK_FALSE(inc.verdict(client, server, 6, 80).allowed);

  inc.erase_pod("default/a-old");
  commit_and_check(inc, mirror);
  CHECK(inc.verdict(client, server, 6, 80).allowed);
}

TEST_CASE("a local pod that goes takes its cluster entries along, also when its identity stays",
          "[cnp][incremental]") {
  test::Cluster cl;
  cl.ns("default");
  cl.pod("default/web-0", "10.0.0.1", {{"app", "web"}}, {}, "node-a");
  cl.pod("default/web-1", "10.0.0.2", {{"app", "web"}}, {}, "node-a");
  cl.policy(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-all}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {}}]}
)");
  DesiredState mirror;
  Compiler inc = compile_checked(cl, mirror);
  CHECK(inc.state().cluster.size() == 2);
  inc.erase_pod("default/web-1");
  commit_and_check(inc, mirror);
  CHECK(inc.state().cluster.size() == 1);
}
