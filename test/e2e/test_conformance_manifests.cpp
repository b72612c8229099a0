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

using namespace bpfence;

TEST_CASE("each step's lab manifest compiles to the scenario's expected verdicts", "[conformance][manifests]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  std::vector<std::string> files;
  for (const char* dir : {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/test/conformance/cluster"})
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  for (const auto& file : files) {
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(loaded.message());
    REQUIRE(loaded.is_ok());
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
        auto v = c.verdict(*IpAddress::parse(sc.ip_of(probe.from)), *IpAddress::parse(sc.ip_of(probe.to)),
                           probe.port.proto, probe.port.port);
        INFO(probe.from << " -> " << probe.to << " " << probe.port.str());
        CHECK(v.allowed == sc.expected(step, probe));
      }
    }
  }
}
