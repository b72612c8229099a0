// The agent under cluster churn: a real bpfence-agent in a node network
// namespace reads a synthetic cluster (test/support/synthetic_cluster.h:
// the compiler benchmark's cluster) from the fake Kubernetes API server
// (test/kubeapi) through list + watch, as in a cluster. Two pods are local
// and real (a client sending a UDP datagram every 100 us to a server); every
// other pod lives on other nodes.
//
// For each rate (pod events per second, cluster-wide; 0 = quiet), a thread
// feeds the API server's pod watch a steady stream of creates, relabels
// and deletes of remote pods, and meanwhile the server's own policy (a
// NetworkPolicy that has nothing to do with the churning pods) is flipped
// between deny and allow through the policy watch; each flip is timed to
// the first datagram whose fate it changed (as agent_update_latency does).
// Over the window: the agent's CPU (utime + stime of /proc/PID/stat), its
// RSS and peak RSS, and the lag of every event from the source's delivery to
// the dataplane (the agent's bpfence_update_lag_seconds histogram, the
// difference over the window). At the end: the memlock of the BPF maps the
// agent holds (/proc/PID/fdinfo).
//
// Usage (root): agent_churn [--pods 100000] [--policies 10000]
//   [--rates 0,100,500] [--seconds 20] [--rounds 20] [--out FILE] [--agent PATH]
// BENCH_DEBUG=1 runs the agent at debug level; BENCH_AGENT_LOG=FILE keeps
// its log.
#include <sys/types.h>

#include <cinttypes>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "fake_api_server.h"
#include "kubeapi_e2e.h"
#include "manifests.h"
#include "provenance.h"
#include "synthetic_cluster.h"
#include "udp_probe.h"

using namespace bpfence;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::test::FakeApiServer;
using bpfence::test::kNamespaces;
using bpfence::test::kPods;
using bpfence::test::kPolicies;
using namespace bpfence::bench;

namespace {

const char* kServer = "10.200.2.10";
const char* kClient = "10.200.2.11";
constexpr uint16_t kPort = 9000;
// A datagram not seen this long after it was sent is taken as dropped.
constexpr int64_t kSettleNs = 200'000'000;

const char* kUsage =
    "usage: agent_churn [--pods N] [--policies N] [--rates R,R,...] [--seconds S] [--rounds N]\n"
    "                   [--out FILE] [--agent PATH]\n"
    "  --pods N      pods in the cluster, 2 of them local (default 100000)\n"
    "  --policies N  network policies, 1 of them the measured one (default 10000)\n"
    "  --rates LIST  cluster-wide pod events per second, one window each; 0 = quiet (default 0,100,500)\n"
    "  --seconds S   length of each window, at least (default 20)\n"
    "  --rounds N    deny + allow flips of the local policy timed per window (default 20)\n"
    "  --out FILE    also write the results as JSON\n"
    "  --agent PATH  another bpfence-agent binary (a base build, for before/after)\n";

int count_arg(const std::string& flag, const std::string& value, int min) {
  char* end = nullptr;
  long n = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n < min || n > 100000000) {
    std::fprintf(stderr, "agent_churn: %s wants a count >= %d, got '%s'\n%s", flag.c_str(), min, value.c_str(),
                 kUsage);
    std::exit(2);
  }
  return static_cast<int>(n);
}

// The agent process as /proc shows it.
struct ProcSample {
  double cpu_s = 0;  // utime + stime
  double rss_mb = 0, hwm_mb = 0;
};

ProcSample proc_sample(pid_t pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command (which may hold spaces): state is field 3,
  // utime 14, stime 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.cpu_s = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_mb = std::stod(line.substr(6)) / 1024;
  }
  return s;
}

// Kernel memory charged to the BPF maps the agent holds open (memlock of
// each map fd; a map held through two fds counted once, by map id).
double maps_memlock_mb(pid_t pid) {
  std::map<std::string, double> by_id;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path());
    std::string line, id;
    double memlock = -1;
    while (std::getline(in, line)) {
      if (line.rfind("map_id:", 0) == 0) id = line.substr(7);
      if (line.rfind("memlock:", 0) == 0) memlock = std::stod(line.substr(8));
    }
    if (!id.empty() && memlock >= 0) by_id[id] = memlock;
  }
  double bytes = 0;
  for (const auto& [_, b] : by_id) bytes += b;
  return bytes / (1024 * 1024);
}

// A histogram of the agent's /metrics: cumulative counts per upper bound.
struct PromHistogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative), +Inf last
  double sum = 0, count = 0;
};

PromHistogram prom_histogram(const std::string& text, const std::string& name) {
  PromHistogram h;
  std::istringstream in(text);
  std::string line;
  const std::string bucket = name + "_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(bucket, 0) == 0) {
      size_t q = line.find('"', bucket.size());
      std::string le = line.substr(bucket.size(), q - bucket.size());
      double bound = le == "+Inf" ? INFINITY : std::stod(le);
      h.buckets.push_back({bound, std::stod(line.substr(line.rfind(' ') + 1))});
    } else if (line.rfind(name + "_sum ", 0) == 0) {
      h.sum = std::stod(line.substr(name.size() + 5));
    } else if (line.rfind(name + "_count ", 0) == 0) {
      h.count = std::stod(line.substr(name.size() + 7));
    }
  }
  return h;
}

// later - earlier, bucket by bucket.
PromHistogram minus(PromHistogram later, const PromHistogram& earlier) {
  for (size_t i = 0; i < later.buckets.size() && i < earlier.buckets.size(); ++i)
    later.buckets[i].second -= earlier.buckets[i].second;
  later.sum -= earlier.sum;
  later.count -= earlier.count;
  return later;
}

// The upper bound (ms) of the bucket holding quantile q: the true value is
// at most this.
double bucket_quantile_ms(const PromHistogram& h, double q) {
  if (h.count <= 0) return 0;
  for (const auto& [le, cum] : h.buckets)
    if (cum >= q * h.count) return le * 1e3;
  return INFINITY;
}

json lag_json(const PromHistogram& h) {
  auto bound = [](double ms) { return std::isinf(ms) ? json("+Inf") : json(ms); };
  return {{"events", h.count},
          {"mean_ms", h.count > 0 ? h.sum / h.count * 1e3 : 0},
          {"p50_le_ms", bound(bucket_quantile_ms(h, 0.5))},
          {"p99_le_ms", bound(bucket_quantile_ms(h, 0.99))},
          {"max_le_ms", bound(bucket_quantile_ms(h, 1.0))}};
}

// The measured policy: the server admits the client on kPort/UDP (allow)
// or on kPort+1 only (deny).
json server_policy(bool allow) {
  NetworkPolicy p;
  p.namespace_ = "bench";
  p.name = "server-ingress";
  p.pod_selector = synthetic::labels_selector({{"app", "server"}});
  PolicyRule rule;
  PolicyPeer peer;
  peer.pod_selector = synthetic::labels_selector({{"app", "client"}});
  rule.peers.push_back(peer);
  PolicyPort port;
  port.protocol = Protocol::UDP;
  port.port = allow ? kPort : kPort + 1;
  rule.ports.push_back(port);
  p.ingress.push_back(rule);
  return lab::to_k8s(p);
}

json local_pod(const std::string& name, const std::string& app, const char* ip, const std::string& node) {
  Pod p;
  p.namespace_ = "bench";
  p.name = name;
  p.labels = {{"app", app}};
  p.node_name = node;
  p.ips.push_back(*IpAddress::parse(ip));
  return lab::to_k8s(p);
}

// Pod events of other nodes at `rate` per second: creates, relabels and
// deletes in turn, on random pods (fixed seed), so the cluster's size stays
// about the same. Emitted in 10 ms ticks.
class Churn {
 public:
  Churn(FakeApiServer& api, std::vector<json>& pods, int rate) : api_(api), pods_(pods), rate_(rate) {
    if (rate_ > 0) thread_ = std::thread([this] { run(); });
  }
  ~Churn() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t emitted() const { return emitted_; }

 private:
  void run() {
    std::mt19937 rng(20);
    const int64_t t0 = now_ns();
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop_) {
      const uint64_t due = uint64_t(double(now_ns() - t0) / 1e9 * rate_);
      while (emitted_ < due && !pods_.empty()) one(rng, emitted_++);
      next.tv_nsec += 10'000'000;
      if (next.tv_nsec >= 1'000'000'000) {
        next.tv_nsec -= 1'000'000'000;
        ++next.tv_sec;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    }
  }
  void one(std::mt19937& rng, uint64_t n) {
    const size_t i = rng() % pods_.size();
    switch (n % 3) {
      case 0: {  // a pod created on another node, in an existing app
        json p = pods_[i];
        p["metadata"]["name"] = "churn-" + std::to_string(n);
        const uint32_t addr = (10u << 24) | (3u << 16) | static_cast<uint32_t>(n & 0xffff);
        const std::string ip = IpAddress::from_v4(addr).str();
        p["status"]["podIP"] = ip;
        p["status"]["podIPs"] = json::array({json{{"ip", ip}}});
        pods_.push_back(p);
        api_.upsert(kPods, std::move(p));
        break;
      }
      case 1: {  // relabeled into another app
        pods_[i]["metadata"]["labels"]["app"] = "app-" + std::to_string(rng() % 40);
        api_.upsert(kPods, pods_[i]);
        break;
      }
      default: {
        const json& m = pods_[i]["metadata"];
        api_.remove(kPods, m["namespace"].get<std::string>() + "/" + m["name"].get<std::string>());
        pods_[i] = std::move(pods_.back());
        pods_.pop_back();
      }
    }
  }

  FakeApiServer& api_;
  std::vector<json>& pods_;
  const int rate_;
  std::atomic<uint64_t> emitted_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// After a flip at t0: the send time of the first datagram sent after t0
// whose fate is the new one (arrived for allow; not arrived kSettleNs after
// its send, for deny), minus t0; < 0 when none within 10 s.
double flip_latency_ms(const Traffic& traffic, int64_t t0, bool allow, uint64_t& scan_from) {
  uint64_t s = traffic.first_sent_after(t0, scan_from);
  const int64_t deadline = t0 + 10'000'000'000;
  while (now_ns() < deadline) {
    const int64_t settled = now_ns() - kSettleNs;
    while (s < traffic.sent() && traffic.sent_at(s) <= settled) {
      if (traffic.received(s) == allow) {
        scan_from = s;
        return (traffic.sent_at(s) - t0) / 1e6;
      }
      ++s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 100000, policies = 10000, seconds = 20, rounds = 20;
  std::vector<int> rates = {0, 100, 500};
  std::string out, agent = BPFENCE_AGENT_BIN;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "agent_churn: %s: unknown flag or missing value\n%s", a.c_str(), kUsage);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--pods") pods = count_arg(a, v, 3);
    else if (a == "--policies") policies = count_arg(a, v, 2);
    else if (a == "--seconds") seconds = count_arg(a, v, 1);
    else if (a == "--rounds") rounds = count_arg(a, v, 1);
    else if (a == "--out") out = v;
    else if (a == "--agent") agent = v;
    else if (a == "--rates") {
      rates.clear();
      std::istringstream in(v);
      for (std::string r; std::getline(in, r, ',');) rates.push_back(count_arg(a, r, 0));
    } else {
      std::fprintf(stderr, "agent_churn: %s: unknown flag\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (int rc = e2e::root_or_skip("agent_churn")) return rc;
  setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows in a log as it happens

  Node node("chrn", agent);
  auto must = [&](Status s, const char* what) {
    if (!s) {
      std::fprintf(stderr, "agent_churn: %s: %s\n%s\n", what, s.message().c_str(), node.agent_log_tail().c_str());
      std::exit(1);
    }
  };
  must(node.setup(), "setup");
  must(node.add_pod("bench/server", kServer, {}), "server pod");
  must(node.add_pod("bench/client", kClient, {}), "client pod");
  // The API server listens on the node namespace's loopback, where the
  // agent runs.
  std::unique_ptr<FakeApiServer> api;
  must(lab::run_in_netns(node.node_netns(),
                         [&]() -> Status {
                           api = std::make_unique<FakeApiServer>();
                           return Status::ok();
                         }),
       "api server");

  // The cluster, stored without watch events (as if long compacted).
  int64_t t = now_ns();
  std::vector<json> remote_pods;
  {
    auto cluster = synthetic::make(pods - 2, policies - 1, 0);
    for (const auto& n : cluster.namespaces) api->upsert(kNamespaces, lab::to_k8s(n), false);
    for (const auto& p : cluster.pods) {
      remote_pods.push_back(lab::to_k8s(p));
      api->upsert(kPods, remote_pods.back(), false);
    }
    for (const auto& p : cluster.policies) api->upsert(kPolicies, lab::to_k8s(p), false);
  }
  api->upsert(kNamespaces, bpfence::test::namespace_json("bench", {{"team", "bench"}}), false);
  api->upsert(kPods, local_pod("server", "server", kServer, node.node_name()), false);
  api->upsert(kPods, local_pod("client", "client", kClient, node.node_name()), false);
  api->upsert(kPolicies, server_policy(true), false);
  std::printf("cluster stored in the fake API server in %.1f s\n", (now_ns() - t) / 1e9);

  node.use_source({"--kubeconfig", e2e::write_kubeconfig(node, api->url(), "token: bench")});
  t = now_ns();
    must(node.start_agent({"--log-level", std::getenv("BENCH_DEBUG") ? "debug" : "info"}), "agent");
  auto st = node.wait_ready(0, 600000);
  if (!st) must(Status::error("agent not ready after 600 s"), "start");
  const double ready_s = (now_ns() - t) / 1e9;
  const pid_t pid = node.agent_pid();
  const ProcSample at_ready = proc_sample(pid);
  std::printf("agent (pid %d) ready in %.1f s (CPU %.1f s, RSS %.0f MB, peak %.0f MB): %s pods, %s policies, %s policy "
              "entries\n",
              int(pid), ready_s, at_ready.cpu_s, at_ready.rss_mb, at_ready.hwm_mb, (*st)["objects"]["pods"].dump().c_str(),
              (*st)["objects"]["networkpolicies"].dump().c_str(), (*st)["entries"]["policy"].dump().c_str());

  Traffic traffic(*node.pod("bench/client").handle, *node.pod("bench/server").handle, kServer, kPort);
  if (!e2e::wait_until([&] { return traffic.last_received() > 0; }, 5000))
    must(Status::error("no traffic reaches the server"), "traffic");

  json windows = json::array();
  uint64_t scan_from = 0;
  std::mt19937 jitter(7);
  std::printf("\n%6s %9s %9s %7s %7s %7s %9s %9s %9s %9s %9s\n", "ev/s", "events", "agent", "CPU %", "RSS MB",
              "peak MB", "lag p50", "lag p99", "flip p50", "flip p99", "flip max");
  for (int rate : rates) {
    Churn churn(*api, remote_pods, rate);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the stream reaches its pace
    const std::string m0 = node.get("/metrics").body;
    const ProcSample p0 = proc_sample(pid);
    const uint64_t e0 = churn.emitted();
    const int64_t w0 = now_ns();
    std::vector<double> deny_ms, allow_ms;
    for (int r = 0; r < rounds; ++r) {
      for (bool allow : {false, true}) {
        // Flips land at random phases of the churn's ticks.
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + jitter() % 100));
        const int64_t t0 = now_ns();
        api->upsert(kPolicies, server_policy(allow));
        const int64_t written = now_ns();
        double ms = flip_latency_ms(traffic, t0, allow, scan_from);
        if (ms < 0) must(Status::error("the policy flip never changed the traffic"), "flip");
        (allow ? allow_ms : deny_ms).push_back(ms);
        // With the agent's debug log (policy_queued_mono_ms, applied_mono_ms):
        // where a slow flip waited.
        if (std::getenv("BENCH_DEBUG"))
          std::printf("flip %s t0_mono_ms=%.3f write_ms=%.3f first_changed_ms=%.3f\n", allow ? "allow" : "deny",
                      t0 / 1e6, (written - t0) / 1e6, ms);
      }
    }
    while (now_ns() - w0 < int64_t(seconds) * 1'000'000'000)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double wall_s = (now_ns() - w0) / 1e9;
    const ProcSample p1 = proc_sample(pid);
    const std::string m1 = node.get("/metrics").body;
    const uint64_t events = churn.emitted() - e0;
    churn.stop();
    const PromHistogram lag = minus(prom_histogram(m1, "bpfence_update_lag_seconds"),
                                    prom_histogram(m0, "bpfence_update_lag_seconds"));
    const double cpu = (p1.cpu_s - p0.cpu_s) / wall_s;
    std::vector<double> all = deny_ms;
    all.insert(all.end(), allow_ms.begin(), allow_ms.end());
    const Stats d = stats(deny_ms), a = stats(allow_ms), f = stats(all);
    std::printf("%6d %9" PRIu64 " %9.0f %7.1f %7.0f %7.0f %8.2g %9.2g %9.2f %9.2f %9.2f\n", rate, events,
                lag.count, cpu * 100, p1.rss_mb, p1.hwm_mb, bucket_quantile_ms(lag, 0.5),
                bucket_quantile_ms(lag, 0.99), d.p50, d.p99, d.max);
    windows.push_back({{"rate_per_s", rate},
                       {"seconds", wall_s},
                       {"events_emitted", events},
                       {"agent_cpu_fraction", cpu},
                       {"agent_rss_mb", p1.rss_mb},
                       {"agent_peak_rss_mb", p1.hwm_mb},
                       {"update_lag", lag_json(lag)},
                       {"deny_to_first_drop", stats_json(d)},
                       {"allow_to_first_pass", stats_json(a)},
                       {"flip_any", stats_json(f)},
                       {"samples_deny_ms", deny_ms},
                       {"samples_allow_ms", allow_ms}});
  }
  if (const char* keep = std::getenv("BENCH_AGENT_LOG"))  // the agent's log outlives the node's folder
    std::filesystem::copy_file(node.agent_log(), keep, std::filesystem::copy_options::overwrite_existing);
  const ProcSample end = proc_sample(pid);
  const double memlock = maps_memlock_mb(pid);
  std::printf("\n%d pods (2 local), %d policies; lag: delivery -> dataplane, bucket upper bounds (ms); flip: deny "
              "-> first dropped datagram (ms)\nagent at the end: RSS %.0f MB, peak %.0f MB; BPF maps memlock %.1f "
              "MB\n",
              pods, policies, end.rss_mb, end.hwm_mb, memlock);
  if (!out.empty()) {
    json j = bpfence::bench::provenance();
    j.update(json{{"agent", agent},
                  {"pods", pods},
                  {"local_pods", 2},
                  {"policies", policies},
                  {"rounds", rounds},
                  {"agent_ready_s", ready_s},
                  {"agent_cpu_to_ready_s", at_ready.cpu_s},
                  {"agent_rss_ready_mb", at_ready.rss_mb},
                  {"agent_rss_end_mb", end.rss_mb},
                  {"agent_peak_rss_mb", end.hwm_mb},
                  {"bpf_maps_memlock_mb", memlock},
                  {"windows", windows}});
    std::ofstream(out) << j.dump(2) << "\n";
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}
