// `explain` agrees with the datapath: for every conformance scenario
// (test/conformance/*.yaml), every step and every probe, the compiler's
// verdict() (what `explain` prints) is compared, side by side, with what the
// real BPF program does to a crafted packet: from_pod at the source pod's
// endpoint (its egress), then to_pod at the destination pod's endpoint (its
// ingress). Both are also held to the scenario's hand-written expectation.
// Then `bpfence explain` itself is run on a sample of probes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "bpfence/scenario.h"
#include "cli_run.h"
#include "fixture.h"

using namespace bpfence;
using namespace bpfence::testdp;

namespace {

std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(BPFENCE_SOURCE_DIR "/test/conformance"))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// The probe's first packet: TCP SYN, UDP, SCTP INIT or ICMP echo request,
// from a source port no other probe uses (no cached flow can answer).
testpkt::Bytes probe_packet(const std::string& src, const std::string& dst, const ProbePort& port, uint16_t sport) {
  bool v4 = IpAddress::parse(src)->is_v4();
  testpkt::Bytes l4;
  uint8_t proto = port.proto;
  if (port.proto == 6)
    l4 = testpkt::tcp(sport, port.port, testpkt::kSyn);
  else if (port.proto == 17)
    l4 = testpkt::udp(sport, port.port);
  else if (port.proto == 132)
    l4 = testpkt::sctp(sport, port.port);
  else {
    proto = v4 ? 1 : 58;
    l4 = testpkt::icmp(v4 ? 8 : 128, sport);
  }
  return v4 ? testpkt::eth4(testpkt::ipv4(src, dst, proto, l4)) : testpkt::eth6(testpkt::ipv6(src, dst, proto, l4));
}

struct Tally {
  int probes = 0, allowed = 0, denied = 0;
};

}  // namespace

TEST_CASE("explain agrees with the datapath on every conformance probe", "[cli][conformance]") {
  const std::vector<std::string> dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  Tally total;
  for (const auto& file : scenario_files()) {
    Scenario sc;
    auto loaded = load_scenario(file, dirs, sc);
    INFO(file << ": " << loaded.message());
    REQUIRE(loaded.is_ok());
    Fixture f;
    for (const auto& ns : sc.namespaces) f.compiler().upsert(ns);
    std::set<std::string> pods;
    for (const auto& pod : sc.pods([](size_t) { return "n1"; })) {
      f.compiler().upsert(pod);
      pods.insert(pod.key());
    }
    uint16_t sport = 20000;
    for (const auto& step : sc.steps) {
      for (const auto& p : step.apply) f.compiler().upsert(p);
      for (const auto& key : step.remove) f.compiler().erase_policy(key);
      for (const auto& ns : step.relabel) f.compiler().upsert(ns);
      f.commit();
      for (const auto& probe : sc.probes()) {
        std::string src = sc.ip_of(probe.from), dst = sc.ip_of(probe.to);
        uint8_t proto = probe.port.proto == 1 && !IpAddress::parse(src)->is_v4() ? 58 : probe.port.proto;
        Verdict v = f.compiler().verdict(*IpAddress::parse(src), *IpAddress::parse(dst), proto, probe.port.port);
        INFO(sc.name << " [" << step.name << "] " << probe.from << " -> " << probe.to << " " << probe.port.str());
        auto pkt = probe_packet(src, dst, probe.port, ++sport);
        bool dp_egress = true, dp_ingress = true;
        if (pods.count(probe.from)) {
          dp_egress = f.run(probe.from, BF_DIR_EGRESS, pkt) == kPass;
          CHECK(v.egress.evaluated);
          CHECK(dp_egress == v.egress.allowed);
        } else {
          CHECK_FALSE(v.egress.evaluated);
        }
        // Like the wire: only what leaves the source reaches the destination.
        if (pods.count(probe.to) && dp_egress) {
          dp_ingress = f.run(probe.to, BF_DIR_INGRESS, pkt) == kPass;
          CHECK(dp_ingress == v.ingress.allowed);
        }
        bool dp = dp_egress && dp_ingress;
        CHECK(dp == v.allowed);
        CHECK(dp == sc.expected(step, probe));
        ++total.probes;
        ++(dp ? total.allowed : total.denied);
      }
    }
  }
  WARN("explain vs datapath: " << total.probes << " probes (" << total.allowed << " allowed, " << total.denied
                               << " denied) over " << scenario_files().size() << " scenarios");
  CHECK(total.probes > 500);
  CHECK(total.denied > 100);
}

TEST_CASE("bpfence explain on scenario manifests says what the datapath does", "[cli][conformance]") {
  // Story 2 as manifests: the scenario's objects written out, explained
  // offline by the binary, compared with packets through the program.
  Scenario sc;
  REQUIRE(load_scenario(BPFENCE_SOURCE_DIR "/test/conformance/story2-web-db.yaml",
                        {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"}, sc));
  Fixture f;
  std::string dir = "/tmp/bpfence-cli-explain-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::string yaml;
  for (const auto& ns : sc.namespaces) {
    f.compiler().upsert(ns);
    yaml += "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns.name + "\n  labels: {";
    std::string sep;
    for (const auto& [k, v] : ns.labels) {
      yaml += sep + k + ": \"" + v + "\"";
      sep = ", ";
    }
    yaml += "}\n";
  }
  std::set<std::string> pods;
  for (const auto& pod : sc.pods([](size_t) { return "n1"; })) {
    f.compiler().upsert(pod);
    pods.insert(pod.key());
    yaml += "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + pod.name + "\n  namespace: " + pod.namespace_ +
            "\n  labels: {";
    std::string sep;
    for (const auto& [k, v] : pod.labels) {
      yaml += sep + k + ": \"" + v + "\"";
      sep = ", ";
    }
    yaml += "}\nspec: {nodeName: n1, containers: [{name: c, image: x}]}\nstatus: {podIP: " + pod.ips.front().str() +
            "}\n";
  }
  bpfence::testcli::write_file(dir, "cluster.yaml", yaml);
  // The first step applies these two files (see story2-web-db.yaml).
  for (const char* name : {"story2-web-db.yaml", "story2-db-v1.yaml"})
    std::filesystem::copy_file(std::string(BPFENCE_SOURCE_DIR "/manifests/examples/") + name, dir + "/" + name);
  for (const auto& p : sc.steps.front().apply) f.compiler().upsert(p);
  f.commit();
  int checked = 0;
  uint16_t sport = 30000;
  for (const auto& probe : sc.probes()) {
    std::string src = sc.ip_of(probe.from), dst = sc.ip_of(probe.to);
    auto pkt = probe_packet(src, dst, probe.port, ++sport);
    bool dp = true;
    if (pods.count(probe.from)) dp = f.run(probe.from, BF_DIR_EGRESS, pkt) == kPass;
    if (dp && pods.count(probe.to)) dp = f.run(probe.to, BF_DIR_INGRESS, pkt) == kPass;
    // External hosts are named by address.
    auto r = bpfence::testcli::run_cli({"explain", "--manifests", dir, "--from",
                                        pods.count(probe.from) ? probe.from : src, "--to",
                                        pods.count(probe.to) ? probe.to : dst, "--port", probe.port.str(), "-o",
                                        "json"});
    INFO(probe.from << " -> " << probe.to << " " << probe.port.str() << "\n" << r.out << r.err);
    REQUIRE(r.rc == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["allowed"].get<bool>() == dp);
    CHECK(dp == sc.expected(sc.steps.front(), probe));
    if (!dp) {
      // The side that dropped it names its isolating policies.
      auto side = j["egress"]["allowed"] == false ? j["egress"] : j["ingress"];
      CHECK_FALSE(side["isolating"].empty());
    }
    ++checked;
  }
  std::filesystem::remove_all(dir);
  CHECK(checked > 10);
}
