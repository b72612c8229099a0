// The lab hands its agents the scenario's cluster as one JSON manifest per
// step (manifests.h). This checks, without root, that what the agents read
// is the scenario itself: each step's manifest is parsed back and compiled,
// and the compiler's verdict on every probe equals the hand-written
// expectation, exactly as test_conformance_verdicts does from the scenario.
// So a lab mismatch can only come from the datapath, never from the writer.
#include <catch2/catch.hpp>

#include <filesystem>

#include "bpfence/compiler.h"
#include "bpfence/parse.h"
#include "bpfence/scenario.h"
#include "manifests.h"
#include "topology.h"

using namespace bpfence;

TEST_CASE("each step's lab manifest compiles to the scenario's expected verdicts", "[conformance][manifests]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  std::vector<std::string> files;
  for (const char* dir : {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/test/conformance/cluster"})
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  int ipv6_runs = 0;
  for (const auto& [file, ipv6] : [&] {
         std::vector<std::pair<std::string, bool>> runs;
         // Over IPv6: the ClusterNetworkPolicy scenarios, the ones that say
         // whether they can move (`ipv4_only:`), as the lab's IPv6 runs.
         for (const auto& f : files) {
           runs.push_back({f, false});
           if (f.find("/cluster/") != std::string::npos) runs.push_back({f, true});
         }
         return runs;
       }()) {
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(loaded.message());
    REQUIRE(loaded.is_ok());
    // The lab's IPv6 run moves the scenario as the unit tests do; the pods'
    // podIPs are then their IPv6 addresses only. (An IPv6 sibling file is
    // IPv6 in the first pass already.)
    if (ipv6 && (!sc.first_ipv6_host().empty() || !move_to_ipv6(sc))) continue;
    ipv6_runs += ipv6;
    // Spread over two nodes, as the lab does; the compiler answers for all.
    auto pods = sc.pods([](size_t i) { return i % 2 ? "node-2" : "node-1"; });
    for (size_t n = 1; n <= sc.steps.size(); ++n) {
      const auto& step = sc.steps[n - 1];
      ScenarioObjects objects = sc.objects_after(static_cast<int>(n));
      auto text = lab::cluster_manifest(objects.namespaces, pods, objects.policies, objects.cluster_policies);
      auto parsed = parse_manifests(text, sc.name + ".json");
      INFO(sc.name << " [" << step.name << "]");
      for (const auto& e : parsed.errors) FAIL_CHECK(e.str());
      CHECK(parsed.objects.size() ==
            objects.namespaces.size() + pods.size() + objects.policies.size() + objects.cluster_policies.size());

      Compiler c({"", {}});
      for (auto& o : parsed.objects) std::visit([&](auto& obj) { c.upsert(obj); }, o);
      c.commit();
      for (const auto& probe : sc.probes()) {
        auto src = *IpAddress::parse(sc.ip_of(probe.from)), dst = *IpAddress::parse(sc.ip_of(probe.to));
        if (ipv6) CHECK_FALSE(src.is_v4());
        uint8_t proto = probe.port.proto == 1 && !src.is_v4() ? 58 : probe.port.proto;
        auto v = c.verdict(src, dst, proto, probe.port.port);
        INFO(probe.from << " -> " << probe.to << " " << probe.port.str());
        CHECK(v.allowed == sc.expected(step, probe));
      }
    }
  }
  CHECK(ipv6_runs > 0);
}

// A scenario moves to IPv6 whole, or not at all with the reason it gives.
TEST_CASE("move_to_ipv6: every address to fd00::a.b.c.d, or the ipv4_only reason", "[conformance][ipv6]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  Scenario sc;
  REQUIRE(load_scenario(BPFENCE_SOURCE_DIR "/test/conformance/cluster/admin-ingress-tcp.yaml", dirs, sc).is_ok());
  auto before = sc.ip_of("gryffindor/harry-potter-0");
  REQUIRE(move_to_ipv6(sc).is_ok());
  CHECK(sc.ip_of("gryffindor/harry-potter-0") == "fd00::" + before);
  for (const auto& h : sc.hosts) CHECK_FALSE(IpAddress::parse(h.ip)->is_v4());

  Scenario v4only;
  REQUIRE(load_scenario(BPFENCE_SOURCE_DIR "/test/conformance/cluster/worked-5-7-networks-egress.yaml", dirs, v4only)
              .is_ok());
  auto refused = move_to_ipv6(v4only);
  CHECK_FALSE(refused.is_ok());
  CHECK(refused.message().find(v4only.ipv4_only) != std::string::npos);

  Scenario sibling;  // already IPv6: left as written
  REQUIRE(load_scenario(BPFENCE_SOURCE_DIR "/test/conformance/cluster/admin-cidr-ipv6.yaml", dirs, sibling).is_ok());
  auto written = sibling.ip_of("gryffindor/harry-potter-0");
  REQUIRE(move_to_ipv6(sibling).is_ok());
  CHECK(sibling.ip_of("gryffindor/harry-potter-0") == written);
  sibling.hosts.back().ip = "10.0.0.9";  // one family per scenario
  CHECK_FALSE(move_to_ipv6(sibling).is_ok());
}

// The bridge layout numbers pods the scenario leaves open from their node's
// pod CIDR: over IPv6 from its twin, so the podIPs the agents read are the
// addresses the pods have.
TEST_CASE("an IPv6 lab plan numbers open pods from the twin of their node's pod CIDR", "[conformance][ipv6]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  Scenario sc;
  REQUIRE(load_scenario(BPFENCE_SOURCE_DIR "/test/conformance/03-deny-all-non-whitelisted-traffic-in-the-namespace.yaml",
                        dirs, sc)
              .is_ok());
  REQUIRE(move_to_ipv6(sc).is_ok());
  auto t = lab::plan_topology(sc, "x", 2, lab::Placement::Spread, lab::Cni::Bridge);
  CHECK(t.ipv6());
  std::vector<std::string> want = {"fd00::10.244.0.10", "fd00::10.244.1.10", "fd00::10.244.0.11"};
  std::vector<std::string> got;
  for (const auto& h : t.hosts)
    if (!h.external) got.push_back(h.ip);
  CHECK(got == want);
  auto routed = lab::plan_topology(sc, "x", 2, lab::Placement::Spread, lab::Cni::Routed);
  CHECK(routed.hosts.front().ip == sc.hosts.front().ip);
}
