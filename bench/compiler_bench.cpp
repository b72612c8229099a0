// Compiler benchmark: a full compile of a synthetic cluster (optionally with
// ClusterNetworkPolicies), then single changes (one policy edited; one
// ClusterNetworkPolicy edited; one pod of another node relabeled within
// existing identities or into a new one, added, deleted; one local pod
// added; one namespace relabeled) each followed by commit(). Reports the median and p99 over
// repeats, the size of each diff and the peak RSS. Not a test: it asserts
// nothing.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "bpfence/compiler.h"
#include "provenance.h"
#include "synthetic_cluster.h"

using namespace bpfence;

namespace {

// CPU time of this thread: the machine is shared (2 cores, builds running),
// and time spent descheduled is not the compiler's cost.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  }
};

double ms_since(double t0) { return Clock::now() - t0; }

const char* kUsage =
    "usage: compiler_bench [--pods N] [--policies N] [--cluster-policies N] [--local N] [--repeat N] [--json FILE]\n"
    "                      [--only OP] [--perf-ctl FIFO] [--perf-ack FIFO] [--memory]\n"
    "  --pods N      pods in the synthetic cluster (default 10000)\n"
    "  --policies N  network policies (default 1000)\n"
    "  --cluster-policies N  ClusterNetworkPolicies (default 0); with N > 0, one of them is edited too\n"
    "  --local N     pods on this node (default 100)\n"
    "  --repeat N    changes of each kind measured (default 50; namespace relabels: at most 10)\n"
    "  --json FILE   also write the results as JSON\n"
    "  --only OP     measure only one operation, for profiling: policy, cluster-policy, relabel, new-identity, add,\n"
    "                delete, local-add, namespace, lint\n"
    "  --perf-ctl F  write enable/disable to perf's control FIFO F around each measured change\n"
    "                (perf record --control fifo:F -D -1 -- compiler_bench ...)\n"
    "  --perf-ack A  wait for perf's ack on FIFO A after each command (perf record --control fifo:F,A):\n"
    "                without it perf may read several commands at once, act on the first only, and\n"
    "                sample outside the measured changes\n"
    "  --memory      only the heap held by each part of a compiled cluster (store, state, indexes)\n";

// A positive count (or zero where allowed), or exit with the flag named.
int count_arg(const std::string& flag, const char* value, bool zero_ok = false) {
  char* end = nullptr;
  long n = std::strtol(value, &end, 10);
  if (*value == '\0' || *end != '\0' || n < (zero_ok ? 0 : 1) || n > 100000000) {
    std::fprintf(stderr, "compiler_bench: %s wants a positive count, got '%s'\n%s", flag.c_str(), value, kUsage);
    std::exit(2);
  }
  return static_cast<int>(n);
}

struct Series {
  std::vector<double> ms;
  size_t entries = 0;
  double quantile(double q) const {
    auto v = ms;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
  }
};

// Bytes malloc hands out now (arenas and mmapped chunks).
double heap_mb() {
  struct mallinfo2 m = mallinfo2();
  return double(m.uordblks + m.hblkhd) / (1024 * 1024);
}

// The heap a compiled cluster holds, by part: the store (the objects, as
// the compiler keeps them: measured as what a copy of its three maps
// costs), the desired state (a copy of it), and the rest, the compiler's
// indexes. The agent holds exactly one compiler (the reconciler's).
nlohmann::json memory_by_part(const synthetic::Cluster& cluster) {
  const double h0 = heap_mb();
  auto c = std::make_unique<Compiler>(CompileOptions{"node-a", {}});
  for (const auto& n : cluster.namespaces) c->upsert(n);
  for (const auto& p : cluster.pods) c->upsert(p);
  for (const auto& p : cluster.policies) c->upsert(p);
  const double before_commit = heap_mb() - h0;
  c->commit();
  const double total = heap_mb() - h0;
  double store = 0, state = 0;
  {
    const double h = heap_mb();
    auto copy = std::make_tuple(c->namespaces(), c->pods(), c->policies());
    store = heap_mb() - h;
  }
  {
    const double h = heap_mb();
    DesiredState copy = c->state();
    state = heap_mb() - h;
  }
  std::printf("heap of one compiled cluster: %.1f MB = store %.1f + desired state %.1f + indexes %.1f "
              "(before the first commit: %.1f)\n",
              total, store, state, total - store - state, before_commit);
  return {{"compiler_total_mb", total},
          {"store_mb", store},
          {"desired_state_mb", state},
          {"indexes_mb", total - store - state},
          {"upserted_before_commit_mb", before_commit}};
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 10000, policies = 1000, cluster_policies = 0, local = 100, repeat = 50;
  std::string json_path, only;
  bool memory = false;
  FILE* perf_ctl = nullptr;
  FILE* perf_ack = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--memory") {
      memory = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "compiler_bench: %s: unknown flag or missing value\n%s", a.c_str(), kUsage);
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--pods") pods = count_arg(a, v);
    else if (a == "--policies") policies = count_arg(a, v);
    else if (a == "--cluster-policies") cluster_policies = count_arg(a, v, true);
    else if (a == "--local") local = count_arg(a, v);
    else if (a == "--repeat") repeat = count_arg(a, v);
    else if (a == "--json") json_path = v;
    else if (a == "--only" && std::set<std::string>{"policy", "relabel", "new-identity", "add", "delete", "local-add", "cluster-policy",
                                                      "namespace", "lint"}.count(v))
      only = v;
    else if (a == "--perf-ctl") perf_ctl = fopen(v, "w");
    else if (a == "--perf-ack") perf_ack = fopen(v, "r");
    else {
      std::fprintf(stderr, "compiler_bench: %s %s: unknown flag or value\n%s", a.c_str(), v, kUsage);
      return 2;
    }
  }
  const double heap_before_cluster = heap_mb();
  auto cluster = synthetic::make(pods, policies, local);
  std::vector<ClusterNetworkPolicy> cnps;
  for (int j = 0; j < cluster_policies; ++j) cnps.push_back(synthetic::make_cluster_policy(j, 40));
  if (memory) {
    const double input = heap_mb() - heap_before_cluster;
    std::printf("cluster: %d pods, %d policies, %d local pods; the benchmark's own copy (input) %.1f MB\n", pods,
                policies, local, input);
    nlohmann::json out = bpfence::bench::provenance();
    out.update(nlohmann::json{{"pods", pods}, {"policies", policies}, {"local_pods", local}, {"input_mb", input}});
    out.update(memory_by_part(cluster));
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
    return 0;
  }

  Series full;
  Compiler c({"node-a", {}});
  for (int r = 0; r < 5; ++r) {
    Compiler fresh({"node-a", {}});
    auto t0 = Clock::now();
    for (const auto& n : cluster.namespaces) fresh.upsert(n);
    for (const auto& p : cluster.pods) fresh.upsert(p);
    for (const auto& p : cluster.policies) fresh.upsert(p);
    for (const auto& p : cnps) fresh.upsert(p);
    auto diff = fresh.commit();
    full.ms.push_back(ms_since(t0));
    full.entries = diff.size();
    if (r == 4) c = std::move(fresh);
  }
  const auto& st = c.state();
  std::printf("cluster: %d pods, %d policies, %d local pods -> %zu endpoints, %zu identities, %zu cidrs, "
              "%zu policy entries, %zu range entries; %d cluster policies -> %zu cluster entries\n",
              pods, policies, local, st.endpoints.size(), st.identities.size(), st.cidrs.size(), st.policy.size(),
              st.ranges.size(), cluster_policies, st.cluster.size());

  // Policies that select a local pod: editing one of them changes entries.
  std::vector<std::string> local_policies;
  for (const auto& [pod, ep] : st.endpoints)
    for (const auto& p : ep.ingress_policies) local_policies.push_back(p);
  std::sort(local_policies.begin(), local_policies.end());
  local_policies.erase(std::unique(local_policies.begin(), local_policies.end()), local_policies.end());

  // Pod events mostly concern other nodes: those are measured apart from
  // the (rarer) local ones, which change the entries of an endpoint.
  std::vector<const Pod*> remote, local_pods;
  for (const auto& p : cluster.pods) (p.node_name == "node-a" ? local_pods : remote).push_back(&p);

  // Around each measured change: perf samples only those (--perf-ctl).
  auto perf = [&](bool on) {
    if (!perf_ctl) return;
    std::fputs(on ? "enable\n" : "disable\n", perf_ctl);
    std::fflush(perf_ctl);
    char ack[16];
    if (perf_ack && !std::fgets(ack, sizeof ack, perf_ack)) perf_ack = nullptr;  // perf went away
  };
  Series cnp_edit, policy_edit, pod_relabel, pod_new_identity, pod_add, pod_delete, local_add, ns_relabel;
  // One change (`change` stages it in the compiler), committed and timed;
  // skipped under --only another operation.
  auto measure = [&](Series& series, const char* op, const auto& change) {
    if (!only.empty() && only != op) return;
    perf(true);
    auto t0 = Clock::now();
    change();
    auto d = c.commit();
    series.ms.push_back(ms_since(t0));
    perf(false);
    series.entries = std::max(series.entries, d.size());
  };
  for (int r = 0; r < repeat; ++r) {
    {
      NetworkPolicy p = c.policies().at(local_policies[r % local_policies.size()]);
      p.ingress[0].ports[0].port = static_cast<uint16_t>(10000 + r);
      measure(policy_edit, "policy", [&] { c.upsert(p); });
    }
    if (!cnps.empty()) {
      ClusterNetworkPolicy p = c.cluster_policies().at(cnps[r % cnps.size()].name);
      p.ingress[0].protocols[0].port = p.ingress[0].protocols[0].end_port = static_cast<uint16_t>(10000 + r);
      measure(cnp_edit, "cluster-policy", [&] { c.upsert(p); });
    }
    {
      Pod p = *remote[(r * 7919) % remote.size()];
      p.labels["app"] = "app-" + std::to_string((r * 13) % 40);
      measure(pod_relabel, "relabel", [&] { c.upsert(p); });
    }
    {
      // A label no other pod has: the pod leaves its identity for a new one.
      Pod p = *remote[(r * 104729 + 17) % remote.size()];
      p.labels["canary"] = "c-" + std::to_string(r);
      measure(pod_new_identity, "new-identity", [&] { c.upsert(p); });
    }
    {
      Pod p = *remote[r % remote.size()];
      p.name = "extra-" + std::to_string(r);
      p.ips = {IpAddress::from_v4((10u << 24) | (200u << 16) | static_cast<uint32_t>(r))};
      measure(pod_add, "add", [&] { c.upsert(p); });
    }
    {
      const Pod& p = *remote[(r * 3571 + 5) % remote.size()];
      if (c.pods().count(p.key())) measure(pod_delete, "delete", [&] { c.erase_pod(p.key()); });
    }
    if (!local_pods.empty()) {
      Pod p = *local_pods[r % local_pods.size()];
      p.name = "local-extra-" + std::to_string(r);
      p.ips = {IpAddress::from_v4((10u << 24) | (201u << 16) | static_cast<uint32_t>(r))};
      measure(local_add, "local-add", [&] { c.upsert(p); });
    }
    if (r < 10) {
      Namespace n = cluster.namespaces[r % cluster.namespaces.size()];
      n.labels["team"] = "team-" + std::to_string((r + 1) % 5);
      measure(ns_relabel, "namespace", [&] { c.upsert(n); });
    }
  }

  // The agent lints once changes pause, and a waiting change interrupts
  // it: how long the whole lint takes, and how long before it first looks
  // whether it should give way (a change waits at most that long).
  Series lint_full, lint_first_check;
  for (int r = 0; r < std::min(repeat, 5) && (only.empty() || only == "lint"); ++r) {
    std::vector<Warning> warnings;
    auto t0 = Clock::now();
    c.warnings(&warnings, nullptr);
    lint_full.ms.push_back(ms_since(t0));
    lint_full.entries = warnings.size();
    t0 = Clock::now();
    c.warnings(&warnings, [&] {
      lint_first_check.ms.push_back(ms_since(t0));
      return true;
    });
  }

  nlohmann::json out = bpfence::bench::provenance();
  out.update(nlohmann::json{{"pods", pods}, {"policies", policies}, {"cluster_policies", cluster_policies},
                            {"cluster_entries", st.cluster.size()}, {"local_pods", local},
                            {"policy_entries", st.policy.size()}, {"identities", st.identities.size()}});
  std::printf("\n%-26s %10s %10s %12s   (thread CPU time)\n", "operation", "p50 ms", "p99 ms", "max entries");
  auto row = [&](const char* name, const Series& s) {
    std::printf("%-26s %10.3f %10.3f %12zu\n", name, s.quantile(0.5), s.quantile(0.99), s.entries);
    out[name] = {{"p50_ms", s.quantile(0.5)}, {"p99_ms", s.quantile(0.99)}, {"entries", s.entries}};
  };
  row("full compile", full);
  row("one policy edited", policy_edit);
  if (!cnps.empty()) row("one cluster policy edited", cnp_edit);
  row("one pod relabeled", pod_relabel);
  row("one pod to a new identity", pod_new_identity);
  row("one pod added", pod_add);
  row("one pod deleted", pod_delete);
  row("one local pod added", local_add);
  row("one namespace relabeled", ns_relabel);
  row("lint (warnings)", lint_full);
  row("lint until it can give way", lint_first_check);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double peak_mb = ru.ru_maxrss / 1024.0;  // kilobytes on Linux
  std::printf("peak RSS %.0f MB\n", peak_mb);
  out["peak_rss_mb"] = peak_mb;
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
