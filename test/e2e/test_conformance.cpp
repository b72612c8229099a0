// The conformance suite with real packets: every scenario in
// test/conformance/ (the shared recipes and the DESIGN.md stories), and
// apart every ClusterNetworkPolicy scenario of test/conformance/cluster/, brought up
// in the lab with real agents, each step applied through the manifests,
// waited for on the agents' generations and /readyz, and the full matrix
// (TCP, UDP, ICMP, from pods and from outside) checked against the
// scenario's hand-written expectation. Run twice: all pods on one node, and
// pods spread over two nodes; ctest runs it again per dataplane, per
// layout and per address family (BPFENCE_LAB_DATAPLANE, BPFENCE_LAB_CNI,
// BPFENCE_LAB_FAMILY).
//
// Also: a policy applied while traffic flows takes effect exactly when the
// agents say it is enforced (no sleeps): probes started before the change
// pass, probes started after the agents report it are dropped, established
// connections included.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "lab.h"
#include "netns.h"
#include "report.h"

using namespace bpfence;
using namespace bpfence::lab;
using Clock = std::chrono::steady_clock;

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// BPFENCE_LAB_FAMILY=ipv6: every scenario moved to IPv6 (move_to_ipv6, as
// the unit tests move them), pods with IPv6 addresses only.
bool ipv6_run() {
  const char* family = std::getenv("BPFENCE_LAB_FAMILY");
  if (!family || !*family || std::string(family) == "ipv4") return false;
  if (std::string(family) == "ipv6") return true;
  std::fprintf(stderr, "BPFENCE_LAB_FAMILY=%s: want ipv4 or ipv6\n", family);
  std::exit(2);
}

LabOptions options(const std::string& name, Placement placement) {
  LabOptions o;
  o.name = name;
  o.nodes = 2;
  o.placement = placement;
  o.agent_path = BPFENCE_AGENT_BIN;
  o.cli_path = BPFENCE_CLI_BIN;
  o.policy_dirs = {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"};
  o.owned = true;
  o.probe.timeout_ms = 800;
  o.verbose = true;  // up/enforced/down timings on stderr, for slow runs
  // BPFENCE_LAB_DATAPLANE=iptables holds the other dataplane to the same tables.
  if (const char* dp = std::getenv("BPFENCE_LAB_DATAPLANE"); dp && *dp) o.dataplane = dp;
  // BPFENCE_LAB_CNI=bridge: pods on cni0 bridges instead of routed veths.
  if (const char* cni = std::getenv("BPFENCE_LAB_CNI"); cni && *cni) {
    auto c = parse_cni(cni);
    if (!c) {
      std::fprintf(stderr, "BPFENCE_LAB_CNI=%s: want routed or bridge\n", cni);
      std::exit(2);
    }
    o.cni = *c;
  }
  o.ipv6 = ipv6_run();
  return o;
}

std::vector<std::string> scenario_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  // BPFENCE_CONFORMANCE_ONLY=substring narrows the run while debugging.
  if (const char* only = std::getenv("BPFENCE_CONFORMANCE_ONLY"); only && *only)
    std::erase_if(files, [&](const std::string& f) { return f.find(only) == std::string::npos; });
  return files;
}

// Why a scenario is not run in this run's family, or "": an IPv4 run
// leaves the IPv6 sibling files to the IPv6 runs, an IPv6 run leaves out
// the scenarios marked `ipv4_only:` (their reason).
std::string not_run_reason(const std::string& file) {
  Scenario sc;
  if (!load_scenario(file, {BPFENCE_SOURCE_DIR "/test/conformance", BPFENCE_SOURCE_DIR "/manifests"}, sc))
    return "";  // Lab::up says what is wrong with it
  if (!ipv6_run())
    return sc.first_ipv6_host().empty() ? "" : "IPv6 addresses: run by the IPv6 runs (BPFENCE_LAB_FAMILY=ipv6)";
  auto moved = move_to_ipv6(sc);
  return moved ? "" : "not over IPv6: " + moved.message();
}

// One scenario, every step; CHECKs (not REQUIREs) so one failing scenario
// does not hide the others. Returns false when it is not run in this family.
bool run_scenario(const std::string& file, Placement placement, const char* tag, int* probes, int* steps) {
  static int seq = 0;
  auto name = std::filesystem::path(file).stem().string();
  if (auto why = not_run_reason(file); !why.empty()) {
    // Said loudly, with the reason; the unit tests hold these tables to the
    // compiler in both families.
    WARN(name << " (" << tag << "): NOT RUN: " << why);
    std::printf("\n=== %s (%s): NOT RUN: %s\n", name.c_str(), tag, why.c_str());
    return false;
  }
  auto started = Clock::now();
  std::unique_ptr<Lab> lab;
  auto up = Lab::up(file, options("cf" + std::to_string(getpid()) + "-" + std::to_string(seq++), placement), lab);
  INFO(name << " (" << tag << "): " << up.message());
  CHECK(up.is_ok());
  if (!up) return true;
  std::printf("\n=== %s (%s): %s\n%s", name.c_str(), tag, lab->scenario().description.c_str(),
              format_hosts(*lab).c_str());
  // Step 0 (no policy, all allowed) checks the lab itself; then every step.
  for (int n = 0; n <= static_cast<int>(lab->scenario().steps.size()); ++n) {
    if (n > 0) {
      auto applied = lab->apply_steps(n);
      INFO(applied.message() << "\n" << lab->agent_logs());
      CHECK(applied.is_ok());
      if (!applied) return true;
    }
    auto m = lab->probe();
    auto table = format_matrix(lab->scenario(), m);
    std::printf("%s%s", format_step(lab->scenario(), n).c_str(), table.c_str());
    std::fflush(stdout);
    INFO(name << " (" << tag << ") step " << n << "\n" << table);
    INFO((m.mismatches().empty() ? std::string() : lab->agent_logs()));
    // Said on every step, so a kernel without SCTP cannot pass unnoticed.
    if (m.not_run) WARN(name << " (" << tag << ") step " << n << ": " << m.not_run << " SCTP probes not run: no SCTP in this kernel");
    CHECK(m.mismatches().empty());
    CHECK(m.probes.size() > 0);
    *probes += static_cast<int>(m.probes.size());
    ++*steps;
  }
  auto down = lab->down();
  INFO(down.message());
  CHECK(down.is_ok());
  std::printf("--- %s (%s): %.0f ms\n", name.c_str(), tag, ms_between(started, Clock::now()));
  return true;
}

void run_all(Placement placement, const char* tag, const std::string& dir = BPFENCE_SOURCE_DIR "/test/conformance") {
  auto suite_start = Clock::now();
  int probes = 0, steps = 0, not_run = 0;
  auto files = scenario_files(dir);
  REQUIRE(!files.empty());
  for (const auto& file : files) not_run += !run_scenario(file, placement, tag, &probes, &steps);
  std::printf("\nconformance %s%s: %zu scenarios run, %d NOT RUN (reasons above), %d steps, %d probes, %.1f s\n", tag,
              ipv6_run() ? ", IPv6" : "", files.size() - not_run, not_run, steps, probes,
              ms_between(suite_start, Clock::now()) / 1000);
  // A family that runs nothing proves nothing.
  CHECK(files.size() > static_cast<size_t>(not_run));
}

// Leaves nothing behind: no namespace of ours, no pins, no state.
void check_nothing_left(const std::string& prefix) {
  std::string list;
  CHECK(run_command({"ip", "netns", "list"}, "", &list).is_ok());
  INFO(list);
  CHECK(list.find(prefix) == std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/bpf")) {
    INFO(e.path());
    CHECK(e.path().filename().string().find("bpfence-lab-" + prefix) == std::string::npos);
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/bpfence/lab", ec)) {
    INFO(e.path());
    CHECK(e.path().filename().string().find(prefix) != 0);
  }
}

}  // namespace

TEST_CASE("conformance: every scenario with all pods on one node", "[conformance][same]") {
  run_all(Placement::Same, "same node");
  check_nothing_left("cf" + std::to_string(getpid()) + "-");
}

TEST_CASE("conformance: every scenario with pods spread over two nodes", "[conformance][spread]") {
  run_all(Placement::Spread, "two nodes");
  check_nothing_left("cf" + std::to_string(getpid()) + "-");
}

// The ClusterNetworkPolicy scenarios (test/conformance/cluster: the upstream
// conformance tests and the specification's worked scenarios), kept apart so
// the NetworkPolicy runs above do not depend on the tiers being enforced.
TEST_CASE("ClusterNetworkPolicy conformance: every scenario with all pods on one node", "[cluster][cluster-same]") {
  run_all(Placement::Same, "cluster, same node", BPFENCE_SOURCE_DIR "/test/conformance/cluster");
  check_nothing_left("cf" + std::to_string(getpid()) + "-");
}

TEST_CASE("ClusterNetworkPolicy conformance: every scenario with pods spread over two nodes",
          "[cluster][cluster-spread]") {
  run_all(Placement::Spread, "cluster, two nodes", BPFENCE_SOURCE_DIR "/test/conformance/cluster");
  check_nothing_left("cf" + std::to_string(getpid()) + "-");
}

namespace {

// An established TCP connection from a lab host, echoing through the listener.
struct Connection {
  int fd = -1;
  ~Connection() {
    if (fd >= 0) close(fd);
  }
  bool open(const NetnsHandle& ns, const std::string& ip, uint16_t port) {
    fd = socket_in(ns, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  // Sends one byte; true when its echo arrives within timeout_ms.
  bool round_trip(int timeout_ms) { return send(fd, "x", 1, MSG_NOSIGNAL) == 1 && echo(timeout_ms); }
  bool echo(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return recv(fd, &c, 1, 0) == 1;
  }
};

struct Batch {
  Clock::time_point start, end;
  std::vector<ProbeResult> results;
};

}  // namespace

TEST_CASE("a policy applied while traffic flows takes effect once the agents report it enforced", "[live]") {
  for (auto placement : {Placement::Same, Placement::Spread}) {
    const char* tag = placement == Placement::Same ? "same node" : "two nodes";
    DYNAMIC_SECTION(tag) {
      std::unique_ptr<Lab> lab;
      // web-deny-all: default/web (80/TCP, 53/UDP) refuses every source.
      auto up = Lab::up(BPFENCE_SOURCE_DIR "/test/conformance/01-deny-all-traffic-to-an-application.yaml",
                        options("live" + std::to_string(getpid()) + (placement == Placement::Same ? "s" : "p"),
                                placement),
                        lab);
      INFO(up.message());
      REQUIRE(up.is_ok());
      const auto& topo = lab->state().topology;
      const LabHost* web = topo.host("default/web");
      const LabHost* client = topo.host("other/client");
      REQUIRE(web);
      REQUIRE(client);
      NetnsHandle client_ns(client->netns), outside_ns(topo.host("outside")->netns);
      REQUIRE(client_ns.valid());

      Connection established;
      REQUIRE(established.open(client_ns, web->ip, 80));
      REQUIRE(established.round_trip(2000));

      // Traffic that keeps flowing across the change: new TCP connections,
      // UDP and ICMP from a pod and from outside, batch after batch.
      std::vector<ProbeSpec> specs = {{&client_ns, web->ip, {6, 80}},  {&client_ns, web->ip, {17, 53}},
                                      {&client_ns, web->ip, {1, 0}},   {&outside_ns, web->ip, {6, 80}},
                                      {&outside_ns, web->ip, {17, 53}}};
      std::mutex mu;
      std::condition_variable cv;
      std::vector<Batch> batches;
      std::atomic<bool> stop{false};
      std::thread traffic([&] {
        ProbeOptions po;
        // Long enough that a loaded machine never fails an allowed probe.
        po.timeout_ms = 1000;
        while (!stop) {
          Batch b;
          b.start = Clock::now();
          b.results = run_probes(specs, po);
          b.end = Clock::now();
          std::lock_guard<std::mutex> lock(mu);
          batches.push_back(std::move(b));
          cv.notify_all();
        }
      });
      // Traffic is flowing (one full batch) before the policy goes in.
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !batches.empty(); });
      }
      auto before_write = Clock::now();
      auto applied = lab->apply_steps(1);
      auto enforced = Clock::now();
      // The established connection: its next byte is dropped now.
      bool established_passes = established.round_trip(800);
      // And a fresh matrix, checked in full against the expectation.
      auto m = lab->probe();
      // Keep the traffic going until a batch has started after enforcement.
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !batches.empty() && batches.back().start > enforced; });
      }
      stop = true;
      traffic.join();
      INFO(applied.message() << "\n" << lab->agent_logs());
      REQUIRE(applied.is_ok());
      std::printf("live (%s): policy enforced %.1f ms after the manifest write began; %zu traffic batches\n", tag,
                  ms_between(before_write, enforced), batches.size());
      INFO(format_matrix(lab->scenario(), m));
      CHECK(m.mismatches().empty());
      CHECK_FALSE(established_passes);

      int before = 0, after = 0;
      for (const auto& b : batches) {
        if (b.end < before_write) {
          ++before;
          for (const auto& r : b.results) CHECK(r.reached());
        } else if (b.start > enforced) {
          ++after;
          for (const auto& r : b.results) CHECK_FALSE(r.reached());
        }
      }
      CHECK(before >= 1);
      CHECK(after >= 1);

      // Deleting the policy: allowed again as soon as the agents say so, and
      // the established connection resumes (its retransmitted byte gets
      // through and is echoed, twice: the dropped one and a new one).
      auto removed = lab->apply_steps(0);
      INFO(removed.message());
      REQUIRE(removed.is_ok());
      auto again = lab->probe();
      INFO(format_matrix(lab->scenario(), again));
      CHECK(again.mismatches().empty());
      // (TCP backs off its retransmissions: the next one may be seconds away.)
      CHECK(established.echo(15000));
      CHECK(established.round_trip(2000));
      CHECK(lab->down().is_ok());
    }
  }
  check_nothing_left("live" + std::to_string(getpid()));
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") {
      std::fprintf(stderr, "FAIL: %s needs root (network namespaces, BPF) and CI=true\n", argv[0]);
      return 1;
    }
    std::fprintf(stderr, "\n*** SKIP: %s needs root (network namespaces, BPF); run as root to test ***\n\n",
                 argv[0]);
    return 77;
  }
  // Labs of an earlier run of this suite that crashed: their owner is gone.
  for (const auto& name : Lab::collect_stale("/run/bpfence/lab"))
    std::fprintf(stderr, "level=info msg=\"removed a stale lab\" name=%s\n", name.c_str());
  return Catch::Session().run(argc, argv);
}
