// netbench: the side-by-side network benchmark of issue 7. Brings up one lab
// per dataplane (no enforcement, bpf, iptables), each with two simulated
// nodes: a client pod and a server pod on node-1 (same node) and a second
// server pod on node-2 (two nodes). Many more pods and the policies exist
// only in the manifests (netbench_cluster.h). For every cluster size of the
// matrix it writes the cluster to every lab, then measures them interleaved
// (none, bpf, iptables, none, bpf, iptables, ...) so machine drift falls on
// all of them alike, and writes one JSON per run plus the Markdown table
// and plots (netbench_report.h). Never asserts a timing.
//
// Usage (root): netbench [--quick] [--repeats R] [--seconds S]
//   [--matrix POLICIES@PODS,...] [--dataplanes none,bpf,iptables]
//   [--topologies same,two] [--update-rounds K] [--out DIR] [--name RUN]
//   [--datapath-json FILE] [--agent PATH] [--netload PATH] [--note TEXT]
//   [--pin-cpu N|-1]   ping-pong and connection-rate client + servers on CPU N
//   [--base-agent PATH]  agent of dataplane "bpf-base" (another build's bpf)
//   [--stats-seconds S]  stats pass per bpf figure (0: none; default 1)
// Every figure runs with the kernel's BPF run statistics off; each bpf
// figure is followed by a short stats pass giving ns per program run.
//   netbench --report RUN.json [--out DIR]     (tables and plots again)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent_client.h"
#include "lab.h"
#include "manifests.h"
#include "netbench_cluster.h"
#include "netbench_measure.h"
#include "netbench_report.h"
#include "netns.h"
#include "process.h"
#include "prober.h"
#include "provenance.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace bpfence;
using namespace bpfence::bench;

namespace {

void log_info(const std::string& msg) {
  std::fprintf(stderr, "level=info msg=\"%s\"\n", msg.c_str());
  std::fflush(stderr);
}

struct Options {
  bool quick = false;
  int repeats = 3;
  double seconds = 2;
  int update_rounds = 6;
  std::vector<std::pair<int, int>> matrix;  // (policies, pods)
  std::vector<std::string> dataplanes = {"none", "bpf", "iptables"};
  std::vector<std::string> topologies = {"same", "two"};
  std::string out_dir = "bench/results";
  std::string name;
  std::string datapath_json;
  std::string agent = BENCH_AGENT_BIN;
  // Dataplane "bpf-base": the bpf dataplane of another agent binary (a
  // build of the base commit), so a datapath change is measured against
  // its base interleaved in one run.
  std::string base_agent;
  std::string netload = BENCH_NETLOAD_BIN;
  std::string report_only;
  std::string note;  // said in the report (e.g. a dataplane left out)
  // bench_netload client and servers pinned to this CPU (-1: not pinned);
  // default the last CPU when there are two or more (see netload.cpp).
  int pin_cpu = -2;
  // Seconds of each bpf figure's stats pass (statistics on; 0: no pass).
  double stats_seconds = 1;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

// One dataplane's lab and the helpers running in it.
struct Bed {
  std::string dataplane;
  std::unique_ptr<lab::Lab> lab;
  std::vector<lab::ProcessId> helpers;
  std::string client_ns, local_ns, remote_ns;
  std::vector<std::string> node_ns;
  std::vector<pid_t> agents;  // empty for "none"
  RealPods real;
  int round = 0;  // cluster writes so far

  ~Bed() {
    for (auto& p : helpers) lab::stop_process(p, 500);
  }
  double agents_cpu() const {
    double s = 0;
    for (pid_t p : agents) s += process_cpu_seconds(p);
    return s;
  }
  std::string manifest(const std::string& file) const { return lab->state().manifests_dir + "/" + file; }
};

double loadavg1() {
  double l = 0;
  std::ifstream("/proc/loadavg") >> l;
  return l;
}

// A program's path from PATH (lab::spawn execs without a PATH search).
std::string which(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const auto& dir : split(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin", ':'))
    if (access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return name;
}

Status spawn_helper(Bed& bed, const std::string& netns, std::vector<std::string> argv, bool ready_fd) {
  argv[0] = which(argv[0]);
  lab::SpawnOptions so;
  so.argv = std::move(argv);
  so.netns = lab::netns_path(netns);
  so.log_path = bed.lab->state().dir + "/logs/bench-" + netns + "-" + fs::path(so.argv[0]).filename().string() + ".log";
  so.die_with_parent = true;
  int pipefd[2] = {-1, -1};
  if (ready_fd) {
    if (pipe2(pipefd, O_CLOEXEC)) return Status::error("pipe failed");
    so.ready_fd = pipefd[1];
    so.argv.push_back("--ready-fd");
    so.argv.push_back("3");
  }
  lab::ProcessId pid;
  Status s = lab::spawn(so, pid);
  if (ready_fd) close(pipefd[1]);
  if (s) bed.helpers.push_back(pid);
  if (s && ready_fd) s = lab::wait_ready_line(pipefd[0], 5000, so.argv[0] + " in " + netns);
  if (ready_fd) close(pipefd[0]);
  return s;
}

// Waits until every agent of the bed reports a generation newer than
// `before` (when given), enforced and ready.
// Polls both agents' /v1/status (and /readyz) every poll_ms until each has
// applied a generation newer than `before`.
Status wait_agents(const Bed& bed, const std::vector<int64_t>* before, int timeout_ms, int poll_ms = 2) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto& st = bed.lab->state();
  std::vector<bool> done(bed.node_ns.size(), false);
  while (true) {
    bool all = true;
    std::string why;
    for (size_t i = 0; i < bed.node_ns.size(); ++i) {
      if (done[i]) continue;
      lab::AgentStatus a;
      if (auto s = lab::query_agent(bed.node_ns[i], st.agent_listen, a); s)
        done[i] = a.ready && a.applied_generation >= a.generation && (!before || a.generation > (*before)[i]);
      if (!done[i]) why += " " + bed.node_ns[i] + ": generation=" + std::to_string(a.generation) +
                           " applied=" + std::to_string(a.applied_generation) + " ready=" + (a.ready ? "yes" : a.readyz_body);
      all = all && done[i];
    }
    if (all) return Status::ok();
    if (lab::interrupted()) return Status::error("interrupted");
    if (std::chrono::steady_clock::now() > deadline)
      return Status::error(bed.dataplane + " agents not ready after " + std::to_string(timeout_ms) + " ms:" + why);
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

Status generations(const Bed& bed, std::vector<int64_t>* out) {
  out->clear();
  for (const auto& ns : bed.node_ns) {
    lab::AgentStatus a;
    if (auto s = lab::query_agent(ns, bed.lab->state().agent_listen, a); !s) return s;
    out->push_back(a.generation);
  }
  return Status::ok();
}

const char* kScenario = R"(description: "netbench: a client and two servers; the cluster is written by netbench"
namespaces: {zz-bench: {team: bench}}
pods:
  zz-bench/client: {labels: {app: client-initial}, ip: 10.244.0.10}
  zz-bench/server-remote: {labels: {app: server}, ip: 10.244.0.11}
  zz-bench/server-local: {labels: {app: server}, ip: 10.244.0.12}
steps:
  - name: nothing
    apply: []
    expect: ["* -> * * allow"]
)";

Status bring_up(Bed& bed, const Options& o, const std::string& scenario_path) {
  lab::LabOptions lo;
  lo.name = "nb-" + (bed.dataplane == "iptables" ? std::string("ipt") : bed.dataplane == "bpf-base" ? std::string("base") : bed.dataplane) + "-" + std::to_string(getpid());
  lo.nodes = 2;
  lo.placement = lab::Placement::Spread;
  lo.dataplane = bed.dataplane == "none" || bed.dataplane == "bpf-base" ? "bpf" : bed.dataplane;
  lo.agent_path = bed.dataplane == "bpf-base" ? o.base_agent : o.agent;
  lo.policy_dirs = {fs::path(scenario_path).parent_path().string()};
  lo.ready_timeout_ms = 120000;
  lo.verbose = true;
  if (auto s = lab::Lab::up(scenario_path, lo, bed.lab); !s) return s;
  const auto& t = bed.lab->state().topology;
  for (const auto& n : t.nodes) bed.node_ns.push_back(n.netns);
  auto host = [&](const char* name) { return t.host(name); };
  bed.client_ns = host("zz-bench/client")->netns;
  bed.local_ns = host("zz-bench/server-local")->netns;
  bed.remote_ns = host("zz-bench/server-remote")->netns;
  bed.real = {t.nodes[host("zz-bench/client")->node].name, t.nodes[host("zz-bench/server-local")->node].name,
              t.nodes[host("zz-bench/server-remote")->node].name};
  if (bed.real.client_node != bed.real.server_local_node || bed.real.client_node == bed.real.server_remote_node)
    return Status::error("lab placement: want client and server-local on one node, server-remote on the other");
  for (const auto& p : bed.lab->state().processes)
    if (p.role.starts_with("agent ")) bed.agents.push_back(p.id.pid);

  if (bed.dataplane == "none") {
    // No enforcement: stop the agents and take their programs off every
    // interface (a stopped agent leaves them attached on purpose).
    for (const auto& p : bed.lab->state().processes)
      if (p.role.starts_with("agent ")) lab::stop_process(p.id);
    bed.agents.clear();
    for (size_t i = 0; i < t.nodes.size(); ++i) {
      std::string out;
      if (auto s = run_in_netns(t.nodes[i].netns,
                                {o.agent, "--node", t.nodes[i].name, "--uninstall", "--bpffs",
                                 bed.lab->state().bpffs_dir + "/" + t.nodes[i].name},
                                &out);
          !s)
        return Status::error("none: uninstall on " + t.nodes[i].name + ": " + s.message());
    }
    for (const auto& h : t.hosts) {
      // The programs' tc hook on the pod's host veth, whatever uninstall left.
      run_in_netns(t.nodes[h.node].netns, {"tc", "qdisc", "del", "dev", h.host_if, "clsact"}, nullptr).is_ok();
      for (const char* dir : {"ingress", "egress"}) {
        std::string out;
        run_in_netns(t.nodes[h.node].netns, {"tc", "filter", "show", "dev", h.host_if, dir}, &out).is_ok();
        if (!out.empty()) return Status::error("none: a filter is still on " + h.host_if + ": " + out);
      }
    }
  }
  if (auto s = lab::write_sysctls(bed.client_ns,
                                  {{"net/ipv4/ip_local_port_range", "1024 65000"}, {"net/ipv4/tcp_tw_reuse", "1"}});
      !s)
    return s;
  for (const auto& ns : {bed.local_ns, bed.remote_ns}) {
    std::vector<std::string> serve = {o.netload, "serve", "--port", "7000"};
    if (o.pin_cpu >= 0) serve.insert(serve.end(), {"--cpu", std::to_string(o.pin_cpu)});
    if (auto s = spawn_helper(bed, ns, serve, true); !s) return s;
    if (auto s = spawn_helper(bed, ns, {"iperf3", "-s", "-p", "5201"}, false); !s) return s;
  }
  if (bed.dataplane == "none") return Status::ok();
  // The toggle's file exists from the start, so a later generation is the
  // cluster write we wait for, not this one.
  std::vector<int64_t> before;
  if (auto s = generations(bed, &before); !s) return s;
  if (auto s = lab::write_file_atomic(bed.manifest("bench-toggle.json"), toggle_manifest(true)); !s) return s;
  return wait_agents(bed, &before, 60000);
}

// Real packets say the cluster is enforced as written: the client reaches
// both servers on the measured port, and not on a filler's port (refused
// there without enforcement: nothing listens).
Status check_enforced(Bed& bed) {
  lab::NetnsHandle client(bed.client_ns);
  std::vector<lab::ProbeSpec> specs;
  for (const char* ip : {kServerLocalIp, kServerRemoteIp}) {
    specs.push_back({&client, ip, ProbePort{6, static_cast<uint16_t>(kNetloadPort)}});
    specs.push_back({&client, ip, ProbePort{6, static_cast<uint16_t>(kDeniedTcpPort)}});
  }
  lab::ProbeOptions po;
  po.timeout_ms = 1500;
  auto r = lab::run_probes(specs, po);
  for (size_t i = 0; i < r.size(); ++i) {
    bool measured = i % 2 == 0;
    lab::Outcome want = measured ? lab::Outcome::Allowed
                                 : bed.dataplane == "none" ? lab::Outcome::Refused : lab::Outcome::Denied;
    if (r[i].outcome != want)
      return Status::error(bed.dataplane + ": probe client -> " + specs[i].dst_ip + ":" + specs[i].port.str() + " is " +
                           lab::outcome_name(r[i].outcome) + ", want " + lab::outcome_name(want) + " " + r[i].detail);
  }
  return Status::ok();
}

// Runs one figure (`metric`: tcp, udp, rr or crr) for `seconds` and writes
// its values into `out` (errors under "errors").
void run_figure(Bed& bed, const Options& o, const std::string& ip, const std::string& metric, double seconds,
                json& out) {
  int secs = std::max(1, static_cast<int>(seconds + 0.5));
  Status s = Status::ok();
  if (metric == "tcp") {
    double gbps = 0;
    if (s = iperf_tcp(bed.client_ns, ip, secs, &gbps); s) out["tcp_gbps"] = gbps;
  } else if (metric == "udp") {
    double pps = 0;
    if (s = iperf_udp(bed.client_ns, ip, secs, &pps); s) out["udp_kpps"] = pps / 1e3;
  } else if (metric == "rr") {
    RateResult rr;
    if (s = netload(o.netload, bed.client_ns, "rr", ip, seconds, o.pin_cpu, &rr); s) {
      out["rr_tps"] = rr.per_second;
      out["rr_p50_us"] = rr.p50_us;
      out["rr_p99_us"] = rr.p99_us;
    }
  } else {
    RateResult crr;
    if (s = netload(o.netload, bed.client_ns, "crr", ip, seconds, o.pin_cpu, &crr); s) {
      out["crr_cps"] = crr.per_second;
      out["crr_p99_us"] = crr.p99_us;
    }
  }
  if (!s) out["errors"].push_back(s.message());
}

// One figure of one cell, with the kernel's BPF run statistics off, as in
// production (they cost two clock reads per program run, which would weigh
// on bpf's ratio to none). The agents' CPU over the window is added to the
// cell's totals. For a bed with programs, a stats pass follows at once: the
// same figure again for o.stats_seconds with the statistics on, giving the
// ns per program run (`bpf_ns_per_run`), its own figure values kept apart
// (`stats_pass`) and never in the ratios.
void measure(Bed& bed, const Options& o, const std::string& topology, const std::string& metric, json& cell) {
  std::string ip = topology == "same" ? kServerLocalIp : kServerRemoteIp;
  double cpu0 = bed.agents_cpu();
  auto progs0 = bpf_prog_run_totals(bed.agents);
  auto t0 = std::chrono::steady_clock::now();
  run_figure(bed, o, ip, metric, o.seconds, cell);
  // Run counts only move while statistics are on: a count that moved here
  // says someone else holds them on (the sysctl, another process), and the
  // report says so.
  if (!bed.agents.empty())
    cell["stats_off_runs"][metric] = bpf_runs_between(progs0, bpf_prog_run_totals(bed.agents));
  cell["window_s"] = cell.value("window_s", 0.0) +
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  cell["agent_cpu_s"] = cell.value("agent_cpu_s", 0.0) + bed.agents_cpu() - cpu0;
  if (bed.agents.empty() || o.stats_seconds <= 0) return;
  json pass = json::object();
  std::map<std::string, double> ns;
  {
    BpfRunStats stats;
    if (!stats.enabled()) {
      cell["errors"].push_back("stats pass: cannot enable the BPF run statistics (BPF_ENABLE_STATS)");
      return;
    }
    auto before = bpf_prog_run_totals(bed.agents);
    run_figure(bed, o, ip, metric, o.stats_seconds, pass);
    ns = bpf_ns_per_run(before, bpf_prog_run_totals(bed.agents));
  }
  // The probe and update traffic is outside both windows.
  for (const auto& [prog, v] : ns) cell["bpf_ns_per_run"][metric][prog] = v;
  for (const auto& [key, v] : pass.items())
    if (key == "errors")
      for (const auto& e : v) cell["errors"].push_back("stats pass: " + e.get<std::string>());
    else
      cell["stats_pass"][key] = v;
}

// Flips the toggle policy `rounds` times each way while the client streams
// UDP to the local server; returns the latencies to the first datagram the
// change dropped (deny) and the first it let through again (allow).
// At most about budget_s seconds (at least one round): a slow dataplane
// gets fewer samples, not a longer run (the count is in the report).
Status update_rounds(Bed& bed, int rounds, double budget_s, std::vector<double>* deny_ms,
                     std::vector<double>* allow_ms) {
  auto started = std::chrono::steady_clock::now();
  lab::NetnsHandle client(bed.client_ns), server(bed.local_ns);
  UdpStream stream(client, server, kServerLocalIp, kToggleUdpPort, 100);
  if (!stream.ok()) return Status::error("update stream: cannot open sockets");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  if (stream.received_count() == 0) return Status::error(bed.dataplane + ": the update stream does not reach the server");
  for (int r = 0; r < rounds; ++r) {
    if (r > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() > budget_s) break;
    for (bool allow : {false, true}) {
      std::vector<int64_t> before;
      if (auto s = generations(bed, &before); !s) return s;
      int64_t t0 = monotonic_ns();
      if (auto s = lab::write_file_atomic(bed.manifest("bench-toggle.json"), toggle_manifest(allow)); !s) return s;
      // The latency is read from the stream, not from this wait, so poll
      // gently: every 2 ms, four HTTP requests per poll competed for the 2
      // CPUs with the agents applying the change.
      if (auto s = wait_agents(bed, &before, 60000, 25); !s) return s;
      // The change is enforced; datagrams sent before now are decided. Give
      // the last ones time to arrive, then find the first changed one.
      int64_t hit = -1;
      for (int wait = 0; wait < 100 && hit < 0; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        hit = stream.first_after(t0, allow);
      }
      if (hit < 0)
        return Status::error(bed.dataplane + ": no " + (allow ? "passing" : "dropped") + " datagram after the " +
                             (allow ? "allow" : "deny") + " edit");
      (allow ? allow_ms : deny_ms)->push_back((hit - t0) / 1e6);
    }
  }
  return Status::ok();
}

std::string utc_stamp(const char* fmt) {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, std::gmtime(&t));
  return buf;
}

Status save(const json& run, const std::string& path) {
  return lab::write_file_atomic(path, run.dump(1) + "\n");
}

int usage() {
  std::fprintf(stderr,
               "usage: netbench [--quick] [--repeats R] [--seconds S] [--matrix POLICIES@PODS,...]\n"
               "                [--dataplanes none,bpf,iptables] [--topologies same,two] [--update-rounds K]\n"
               "                [--out DIR] [--name RUN] [--datapath-json FILE] [--agent PATH] [--netload PATH]\n"
               "                [--note TEXT] [--pin-cpu N|-1] [--base-agent PATH (dataplane bpf-base)]\n"
               "                [--stats-seconds S (stats pass per bpf figure, 0: none)]\n"
               "       netbench --report RUN.json [--out DIR]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string matrix_arg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (a == "--quick") o.quick = true;
    else if (a == "--repeats") o.repeats = std::stoi(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--update-rounds") o.update_rounds = std::stoi(next());
    else if (a == "--matrix") matrix_arg = next();
    else if (a == "--dataplanes") o.dataplanes = split(next(), ',');
    else if (a == "--topologies") o.topologies = split(next(), ',');
    else if (a == "--out") o.out_dir = next();
    else if (a == "--name") o.name = next();
    else if (a == "--datapath-json") o.datapath_json = next();
    else if (a == "--agent") o.agent = next();
    else if (a == "--netload") o.netload = next();
    else if (a == "--base-agent") o.base_agent = next();
    else if (a == "--report") o.report_only = next();
    else if (a == "--note") o.note = next();
    else if (a == "--pin-cpu") o.pin_cpu = std::stoi(next());
    else if (a == "--stats-seconds") o.stats_seconds = std::stod(next());
    else return usage();
  }
  if (!o.report_only.empty()) {
    std::ifstream in(o.report_only);
    json run;
    try {
      run = json::parse(in);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", o.report_only.c_str(), e.what());
      return 1;
    }
    auto s = write_report(run, o.out_dir);
    if (!s) std::fprintf(stderr, "level=error msg=\"%s\"\n", s.message().c_str());
    return s ? 0 : 1;
  }
  for (const auto& dp : o.dataplanes)
    if (dp == "bpf-base" && o.base_agent.empty()) {
      std::fprintf(stderr, "netbench: dataplane bpf-base needs --base-agent PATH\n");
      return 2;
    }
  if (o.quick) {
    // A try-out in a few minutes: two cluster sizes, one pass.
    if (matrix_arg.empty()) matrix_arg = "10@1000,1000@1000";
    o.repeats = 1;
    o.seconds = 1;
    o.update_rounds = 3;
  }
  if (matrix_arg.empty())
    // Policy sweep at 10,000 pods, pod sweep at 1,000 policies (bench/README.md).
    matrix_arg = "10@10000,100@10000,1000@10000,5000@10000,1000@100,1000@1000";
  for (const auto& item : split(matrix_arg, ',')) {
    auto at = item.find('@');
    if (at == std::string::npos) return usage();
    o.matrix.emplace_back(std::stoi(item.substr(0, at)), std::stoi(item.substr(at + 1)));
  }
  if (getuid() != 0) {
    std::fprintf(stderr, "netbench: needs root (network namespaces, BPF)\n");
    return 1;
  }
  if (o.pin_cpu == -2) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.pin_cpu = cpus >= 2 ? static_cast<int>(cpus - 1) : -1;
  }
  if (o.name.empty()) o.name = (o.quick ? "quick-" : "netbench-") + utc_stamp("%Y%m%d-%H%M%S");
  lab::install_interrupt_handlers();
  lab::Lab::collect_stale("/run/bpfence/lab");
  fs::create_directories(o.out_dir);
  std::string json_path = o.out_dir + "/" + o.name + ".json";

  auto started = std::chrono::steady_clock::now();
  json run = {{"run", o.name},
              {"started_utc", utc_stamp("%Y-%m-%dT%H:%M:%SZ")},
              {"commit", bpfence::bench::provenance()["commit"]},
              {"host", bpfence::bench::machine_info()},
              {"loadavg_start", loadavg1()},
              {"complete", false},
              {"options",
               {{"quick", o.quick},
                {"repeats", o.repeats},
                {"seconds", o.seconds},
                {"update_rounds", o.update_rounds},
                {"matrix", matrix_arg},
                {"dataplanes", o.dataplanes},
                {"topologies", o.topologies},
                {"pin_cpu", o.pin_cpu},
                {"stats_seconds", o.stats_seconds}}},
              // Statistics off during the ratio figures, on in each stats pass.
              {"bpf_stats", "stats pass"},
              {"bpf_stats_sysctl_start", bpf_stats_sysctl()},
              {"cells", json::array()},
              {"configs", json::array()}};
  if (!o.note.empty()) run["note"] = o.note;
  if (!o.datapath_json.empty()) {
    try {
      run["datapath_bench"] = json::parse(std::ifstream(o.datapath_json));
    } catch (const std::exception& e) {
      log_info("datapath results not read: " + std::string(e.what()));
    }
  }

  std::string scenario_path = "/tmp/netbench-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(scenario_path) << kScenario;
  std::vector<std::unique_ptr<Bed>> beds;
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "level=error msg=\"%s\"\n", msg.c_str());
    for (auto& b : beds)
      if (b->lab) std::fprintf(stderr, "%s", b->lab->agent_logs().c_str());
    run["error"] = msg;
    run["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    save(run, json_path).is_ok();
    beds.clear();
    fs::remove(scenario_path);
    return 1;
  };
  for (const auto& dp : o.dataplanes) {
    auto bed = std::make_unique<Bed>();
    bed->dataplane = dp;
    log_info("lab up dataplane=" + dp);
    Status s = bring_up(*bed, o, scenario_path);
    beds.push_back(std::move(bed));
    if (!s) return fail("lab for " + dp + ": " + s.message());
  }

  for (auto [policies, pods] : o.matrix) {
    log_info("cluster pods=" + std::to_string(pods) + " policies=" + std::to_string(policies));
    std::map<std::string, json> config;
    for (auto& bed : beds) {
      json c = {{"dataplane", bed->dataplane}, {"pods", pods}, {"policies", policies}};
      if (bed->dataplane != "none") {
        std::vector<int64_t> before;
        if (auto s = generations(*bed, &before); !s) return fail(s.message());
        double cpu0 = bed->agents_cpu();
        auto t0 = std::chrono::steady_clock::now();
        RealPods real = bed->real;
        if (auto s = lab::write_file_atomic(bed->manifest("cluster.json"), cluster_manifest(pods, policies, real, ++bed->round)); !s)
          return fail(s.message());
        if (auto s = wait_agents(*bed, &before, 600000); !s) return fail(s.message());
        c["apply_wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        c["apply_cpu_s"] = bed->agents_cpu() - cpu0;
        double rss = 0;
        for (pid_t p : bed->agents) rss = std::max(rss, process_rss_mb(p));
        c["agent_rss_mb"] = rss;
        // node-1: the client's node, with the local server.
        if (bed->dataplane.starts_with("bpf")) c["kernel_kb"] = bpf_map_bytes(bed->agents.front()) / 1024.0;
        if (bed->dataplane == "iptables") {
          c["kernel_kb"] = ipset_bytes(bed->node_ns.front()) / 1024.0;
          c["iptables_rules"] = iptables_rule_count(bed->node_ns.front());
          auto [pos, len] = iptables_client_rule(bed->node_ns.front(), std::string(kBenchNs) + "/server-local", kClientIp);
          c["client_rule_position"] = pos;
          c["server_chain_rules"] = len;
        }
        log_info(bed->dataplane + " applied in " + c["apply_wall_s"].dump() + " s");
      }
      if (auto s = check_enforced(*bed); !s) return fail(s.message());
      c["update_deny_ms"] = json::array();
      c["update_allow_ms"] = json::array();
      config[bed->dataplane] = c;
    }
    for (int rep = 0; rep < o.repeats; ++rep) {
      // Interleaved per figure: tcp of none, bpf, iptables, then udp of
      // each, ... so a slow stretch of the machine hits every dataplane.
      std::map<std::pair<std::string, std::string>, json> cells;
      for (auto& bed : beds)
        for (const auto& topo : o.topologies)
          cells[{bed->dataplane, topo}] = {{"dataplane", bed->dataplane}, {"topology", topo}, {"pods", pods},
                                           {"policies", policies}, {"repeat", rep}, {"loadavg", loadavg1()}};
      for (const char* metric : {"tcp", "udp", "rr", "crr"})
        for (auto& bed : beds)
          for (const auto& topo : o.topologies) {
            measure(*bed, o, topo, metric, cells[{bed->dataplane, topo}]);
            if (lab::interrupted()) return fail("interrupted");
          }
      for (auto& bed : beds)
        for (const auto& topo : o.topologies) {
          json& cell = cells[{bed->dataplane, topo}];
          if (!bed->agents.empty() && cell.value("window_s", 0.0) > 0)
            cell["agent_cpu_pct"] = 100.0 * cell["agent_cpu_s"].get<double>() / cell["window_s"].get<double>();
          log_info("cell " + cell.dump());
          run["cells"].push_back(cell);
        }
      for (auto& bed : beds) {
        if (bed->dataplane == "none" || o.update_rounds <= 0) continue;
        std::vector<double> deny, allow;
        auto s = update_rounds(*bed, o.update_rounds, o.quick ? 5 : 10, &deny, &allow);
        auto& c = config[bed->dataplane];
        for (double v : deny) c["update_deny_ms"].push_back(v);
        for (double v : allow) c["update_allow_ms"].push_back(v);
        if (!s) {
          c["update_error"] = s.message();
          log_info("update rounds: " + s.message());
        }
      }
    }
    for (auto& bed : beds) run["configs"].push_back(config[bed->dataplane]);
    run["loadavg_end"] = loadavg1();
    run["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    save(run, json_path).is_ok();
  }
  beds.clear();  // labs down before the report
  fs::remove(scenario_path);
  run["complete"] = true;
  run["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (auto s = save(run, json_path); !s) return fail(s.message());
  log_info("wrote " + json_path);
  if (auto s = write_report(run, o.out_dir); !s) {
    std::fprintf(stderr, "level=error msg=\"%s\"\n", s.message().c_str());
    return 1;
  }
  return 0;
}
