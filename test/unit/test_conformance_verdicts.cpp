// Every conformance scenario (test/conformance/*.yaml: the shared recipes and
// the DESIGN.md stories; test/conformance/cluster/*.yaml: the upstream
// ClusterNetworkPolicy conformance tests and the specification's worked
// scenarios), checked probe by probe against the compiler's verdict(). The
// e2e suite runs the same files with real packets.
#include <catch2/catch.hpp>
#include <filesystem>

#include "bpfence/compiler.h"
#include "bpfence/scenario.h"

using namespace bpfence;

static std::vector<std::string> scenario_files(const char* dir = BPFENCE_SOURCE_DIR "/test/conformance") {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

static std::vector<std::string> all_scenario_files() {
  auto files = scenario_files();
  auto cluster = scenario_files(BPFENCE_SOURCE_DIR "/test/conformance/cluster");
  files.insert(files.end(), cluster.begin(), cluster.end());
  return files;
}

TEST_CASE("every recipe has a scenario", "[conformance]") {
  auto files = scenario_files();
  for (const auto& e : std::filesystem::directory_iterator(BPFENCE_SOURCE_DIR "/test/conformance/recipes")) {
    if (e.path().extension() != ".yaml") continue;
    auto want = std::string(BPFENCE_SOURCE_DIR "/test/conformance/") + e.path().filename().string();
    CHECK(std::find(files.begin(), files.end(), want) != files.end());
  }
}

// Every step applied to one compiler in turn (its incremental path), and
// every probe of the step's matrix asked of verdict().
static void check_steps(const Scenario& sc) {
  Compiler c({"", {}});
  for (const auto& ns : sc.namespaces) c.upsert(ns);
  for (const auto& pod : sc.pods([](size_t) { return "node-a"; })) c.upsert(pod);
  for (const auto& step : sc.steps) {
    for (const auto& p : step.apply) c.upsert(p);
    for (const auto& p : step.apply_cluster) c.upsert(p);
    for (const auto& key : step.remove) c.erase_policy(key);
    for (const auto& name : step.remove_cluster) c.erase_cluster_policy(name);
    for (const auto& ns : step.relabel) c.upsert(ns);
    c.commit();
    int checked = 0;
    for (const auto& probe : sc.probes()) {
      auto src = *IpAddress::parse(sc.ip_of(probe.from)), dst = *IpAddress::parse(sc.ip_of(probe.to));
      uint8_t proto = probe.port.proto == 1 && !src.is_v4() ? 58 : probe.port.proto;
      auto v = c.verdict(src, dst, proto, probe.port.port);
      INFO(sc.name << " [" << step.name << "] " << probe.from << " -> " << probe.to << " " << probe.port.str() << " ("
                   << src.str() << " -> " << dst.str() << ")");
      CHECK(v.allowed == sc.expected(step, probe));
      ++checked;
    }
    CHECK(checked > 0);
  }
}

TEST_CASE("conformance scenarios: verdict() matches the hand-written truth tables", "[conformance]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  int scenarios = 0;
  for (const auto& file : all_scenario_files()) {
    ++scenarios;
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(loaded.message());
    REQUIRE(loaded.is_ok());
    check_steps(sc);
  }
  CHECK(scenarios > 0);
}

// Every scenario again over IPv6 (move_to_ipv6, as the lab's IPv6 runs move
// them): the same tables must hold. A scenario whose policies name IPv4
// prefixes says why it has no twin (`ipv4_only:`) and may have an IPv6
// sibling file of its own instead (checked above).
TEST_CASE("conformance scenarios: the same tables over IPv6", "[conformance][ipv6]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  int twins = 0, policy_twins = 0;
  for (const auto& file : all_scenario_files()) {
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(loaded.message());
    REQUIRE(loaded.is_ok());
    if (!sc.first_ipv6_host().empty() || !move_to_ipv6(sc)) continue;
    REQUIRE(sc.first_ipv6_host() == sc.hosts.front().name);
    check_steps(sc);
    ++twins;
    if (file.find("/cluster/") == std::string::npos) ++policy_twins;
  }
  CHECK(twins > 0);
  CHECK(policy_twins > 0);
}
