// Bringing a scenario up on simulated nodes, stepping it, probing it and
// tearing it down (see lab.h).
#include "lab.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent_client.h"
#include "manifests.h"
#include "netns.h"
#include "log.h"

namespace bpfence::lab {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool>& interrupted() {
  static std::atomic<bool> flag{false};
  return flag;
}

static void on_interrupt(int) { interrupted().store(true); }

void install_interrupt_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked wait returns and sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

std::vector<std::string> default_policy_dirs(const std::string& scenario_path) {
  // test/conformance/X.yaml names recipes/Y.yaml (test/conformance/recipes)
  // and the stories' manifests under the repository's manifests/; a
  // scenario of test/conformance/cluster/ names its policies/ (found next to
  // it by load_scenario) and the repository's example manifests.
  auto dir = fs::absolute(scenario_path).parent_path();
  std::vector<std::string> out = {dir.string()};
  for (auto up = dir; up != up.parent_path(); up = up.parent_path())
    if (fs::exists(up / "manifests" / "examples")) {
      if (fs::exists(up / "test" / "conformance")) out.push_back((up / "test" / "conformance").string());
      out.push_back((up / "manifests").string());
      break;
    }
  return out;
}

std::string find_scenario_dir() {
  for (fs::path dir = fs::current_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::exists(dir / "test" / "conformance" / "story1-nfs.yaml")) return (dir / "test" / "conformance").string();
    if (dir == dir.parent_path()) break;
  }
  fs::path built = BPFENCE_LAB_SOURCE_DIR "/test/conformance";
  return fs::exists(built) ? built.string() : "";
}

namespace {

void info(bool verbose, const std::string& msg) {
  if (verbose) agentlog::info(msg);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 40) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return name.front() != '.' && name.front() != '-';
}

std::string find_agent(const LabOptions& o) {
  if (!o.agent_path.empty()) return o.agent_path;
  if (const char* env = std::getenv("BPFENCE_AGENT"); env && *env) return env;
  auto here = fs::path(self_exe()).parent_path();
  // Installed side by side, or a build tree (build/agent/cli/bpfence and
  // build/agent/agentd/bpfence-agent).
  for (auto candidate : {here / "bpfence-agent", here / "agent" / "agentd" / "bpfence-agent",
                         here.parent_path() / "agentd" / "bpfence-agent"})
    if (fs::exists(candidate)) return candidate.string();
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':'))
      if (!dir.empty() && access((fs::path(dir) / "bpfence-agent").c_str(), X_OK) == 0)
        return (fs::path(dir) / "bpfence-agent").string();
  }
  return "";
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Removes everything a lab state names; collects errors, stops at none.
Status teardown(const LabState& s, bool verbose = false) {
  std::string errors;
  auto note = [&](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };
  auto t0 = Clock::now();
  // Agents first (they hold the programs), then listeners: newest first.
  for (auto it = s.processes.rbegin(); it != s.processes.rend(); ++it) stop_process(it->id);
  auto t1 = Clock::now();
  if (auto st = netns_delete(s.topology.all_netns()); !st) note(st.message());
  auto t2 = Clock::now();
  std::error_code ec;
  if (!s.bpffs_dir.empty() && fs::exists(s.bpffs_dir)) {
    fs::remove_all(s.bpffs_dir, ec);
    if (ec) note("remove " + s.bpffs_dir + ": " + ec.message());
  }
  if (!s.dir.empty()) {
    fs::remove_all(s.dir, ec);
    if (ec) note("remove " + s.dir + ": " + ec.message());
  }
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
  };
  info(verbose, "lab down name=" + s.name + " processes_ms=" + ms(t0, t1) + " netns_ms=" + ms(t1, t2) +
                    " files_ms=" + ms(t2, Clock::now()));
  return errors.empty() ? Status::ok() : Status::error("lab " + s.name + " down: " + errors);
}

}  // namespace

Status Lab::up(const std::string& scenario_path, const LabOptions& o, std::unique_ptr<Lab>& out) {
  if (!valid_name(o.name))
    return Status::error("lab name '" + o.name + "': use 1-40 letters, digits, '-', '_' or '.'");
  if (o.nodes < 1 || o.nodes > 16) return Status::error("--nodes " + std::to_string(o.nodes) + ": want 1..16");
  if (o.dataplane != "bpf" && o.dataplane != "iptables")
    return Status::error("--dataplane " + o.dataplane + ": want bpf or iptables");
  std::unique_ptr<Lab> lab(new Lab());
  lab->ready_timeout_ms_ = o.ready_timeout_ms;
  lab->probe_options_ = o.probe;
  lab->verbose_ = o.verbose;
  lab->sctp_ = kernel_has_sctp();
  auto dirs = o.policy_dirs.empty() ? default_policy_dirs(scenario_path) : o.policy_dirs;
  if (auto s = load_scenario(scenario_path, dirs, lab->scenario_); !s) return s;
  // A run is of one family: the scenario moved to IPv6 when asked, or as
  // its own addresses say (an IPv6 sibling file).
  if (o.ipv6 || !lab->scenario_.first_ipv6_host().empty())
    if (auto s = move_to_ipv6(lab->scenario_); !s) return Status::error("lab over IPv6: " + s.message());

  auto& st = lab->state_;
  st.name = o.name;
  st.dir = o.state_root + "/" + o.name;
  st.scenario_path = fs::absolute(scenario_path).string();
  st.policy_dirs = dirs;
  st.placement = o.placement == Placement::Same ? "same" : "spread";
  st.dataplane = o.dataplane;
  st.agent_listen = o.agent_listen;
  if (o.owned) st.owner = {getpid(), process_start_time(getpid())};
  std::error_code ec;
  // mkdir is the claim on the name: of two `lab up --name X` at once, one wins.
  fs::create_directories(o.state_root, ec);
  if (ec || !fs::create_directory(st.dir, ec)) {
    if (fs::exists(st.dir))
      return Status::error("lab " + o.name + " exists (" + st.dir + "): remove it with `bpfence lab down --name " +
                           o.name + "`");
    return Status::error("lab " + o.name + ": create " + st.dir + ": " + ec.message());
  }
  fs::create_directories(st.dir + "/logs", ec);
  if (!ec) fs::create_directories(st.dir + "/manifests", ec);
  if (ec) return Status::error("lab " + o.name + ": create " + st.dir + ": " + ec.message());
  st.manifests_dir = st.dir + "/manifests";

  // Unique per process and per lab within it: parallel runs never share a name.
  static std::atomic<int> sequence{0};
  std::string prefix = o.name + "-" + hex(getpid()) + "-" + std::to_string(sequence++);
  st.topology = plan_topology(lab->scenario_, prefix, o.nodes, o.placement, o.cni);
  lab->take_topology_addresses();
  st.bpffs_dir = o.bpffs_root + "/bpfence-lab-" + prefix;
  // Recorded before anything exists, so any crash from here on is cleanable.
  if (auto s = save_state(st); !s) {
    fs::remove_all(st.dir, ec);
    return s;
  }
  lab->detached_ = false;  // from here on, a failure tears down what was made
  auto started = Clock::now();
  if (auto s = lab->bring_up(o); !s) {
    std::string logs = lab->agent_logs();
    lab->down().is_ok();
    return Status::error("lab " + o.name + " up: " + s.message() + (logs.empty() ? "" : "\n" + logs));
  }
  info(o.verbose, "lab up name=" + o.name + " scenario=" + lab->scenario_.name + " nodes=" + std::to_string(o.nodes) +
                      " placement=" + st.placement + " cni=" + cni_name(o.cni) +
                      " family=" + (st.topology.ipv6() ? "ipv6" : "ipv4") + " ms=" +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
  if (!o.owned) lab->detach();
  out = std::move(lab);
  return Status::ok();
}

Status Lab::bring_up(const LabOptions& o) {
  auto t0 = Clock::now();
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
  };
  if (auto s = build_topology(state_.topology); !s) return s;
  auto t1 = Clock::now();
  if (auto s = write_cluster(0); !s) return s;
  if (auto s = start_listeners(o); !s) return s;
  auto t2 = Clock::now();
  if (auto s = start_agents(o); !s) return s;
  auto s = wait_agents(nullptr, ready_timeout_ms_);
  info(verbose_, "lab built prefix=" + state_.topology.prefix + " namespaces_ms=" + ms(t0, t1) +
                     " listeners_ms=" + ms(t1, t2) + " agents_ready_ms=" + ms(t2, Clock::now()));
  return s;
}

bool kernel_has_sctp() {
  // Opening one loads the module where it exists; where it does not (a
  // kernel built without SCTP), no SCTP packet can be sent at all.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool Lab::runs(const ProbePort& port) const { return port.proto != IPPROTO_SCTP || sctp_; }

Status Lab::start_listeners(const LabOptions& o) {
  std::string cli = o.cli_path.empty() ? self_exe() : o.cli_path;
  for (size_t i = 0; i < scenario_.hosts.size(); ++i) {
    const auto& h = scenario_.hosts[i];
    if (std::none_of(h.ports.begin(), h.ports.end(), [&](const ProbePort& p) { return runs(p); })) continue;
    const auto& lh = state_.topology.hosts[i];
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return Status::error("listener " + h.name + ": pipe failed");
    SpawnOptions so;
    so.argv = {cli, "lab", "listen", "--ready-fd", "3"};
    if (state_.topology.ipv6()) so.argv.push_back("--ipv6");
    for (const auto& p : h.ports) {
      if (!runs(p)) continue;
      so.argv.push_back("--port");
      so.argv.push_back(p.str());
    }
    so.netns = netns_path(lh.netns);
    so.log_path = state_.dir + "/logs/listen-" + lh.netns + ".log";
    so.die_with_parent = o.owned;
    so.ready_fd = ready[1];
    ProcessId pid;
    auto s = spawn(so, pid);
    close(ready[1]);
    if (s) {
      state_.processes.push_back({pid, "listener " + h.name, so.log_path});
      s = save_state(state_);
    }
    if (s) s = wait_ready_line(ready[0], 5000, "listener " + h.name + " in " + lh.netns);
    close(ready[0]);
    if (!s) return Status::error(s.message() + ": " + tail_file(so.log_path, 500));
  }
  return Status::ok();
}

Status Lab::start_agents(const LabOptions& o) {
  std::string agent = find_agent(o);
  if (agent.empty())
    return Status::error("bpfence-agent not found: build it (cmake --build build --target bpfence-agent), "
                         "put it in PATH, or pass --agent PATH");
  for (const auto& n : state_.topology.nodes) {
    std::string bpffs = state_.bpffs_dir + "/" + n.name;
    std::error_code ec;
    fs::create_directories(bpffs, ec);
    if (ec) return Status::error("agent " + n.name + ": create " + bpffs + ": " + ec.message());
    SpawnOptions so;
    so.argv = {agent, "--node", n.name, "--manifests", state_.manifests_dir, "--bpffs", bpffs, "--listen",
               state_.agent_listen, "--dataplane", state_.dataplane};
    so.netns = netns_path(n.netns);
    so.log_path = state_.agent_log(n.name);
    so.die_with_parent = o.owned;
    ProcessId pid;
    if (auto s = spawn(so, pid); !s) return s;
    state_.processes.push_back({pid, "agent " + n.name, so.log_path});
    if (auto s = save_state(state_); !s) return s;
    info(verbose_, "agent started node=" + n.name + " pid=" + std::to_string(pid.pid) + " netns=" + n.netns);
  }
  return Status::ok();
}

Status Lab::write_cluster(int steps) {
  ScenarioObjects objects = scenario_.objects_after(steps);
  std::vector<std::string> node_of;
  for (const auto& h : state_.topology.hosts)
    if (!h.external) node_of.push_back(state_.topology.nodes[h.node].name);
  auto pods = scenario_.pods([&](size_t i) { return node_of.at(i); });
  return write_file_atomic(state_.manifests_dir + "/cluster.json",
                           cluster_manifest(objects.namespaces, pods, objects.policies, objects.cluster_policies));
}

Status Lab::wait_agents(const std::vector<int64_t>* newer_than, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto& nodes = state_.topology.nodes;
  std::vector<bool> done(nodes.size(), false);
  std::vector<std::string> last(nodes.size(), "no answer yet");
  while (true) {
    bool all = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (done[i]) continue;
      AgentStatus a;
      auto s = query_agent(nodes[i].netns, state_.agent_listen, a);
      if (!s) {
        last[i] = s.message();
      } else {
        last[i] = "generation=" + std::to_string(a.generation) + " applied_generation=" +
                  std::to_string(a.applied_generation) + " readyz=" + (a.ready ? "200" : "not ready: " + a.readyz_body);
        done[i] = a.ready && a.applied_generation >= a.generation &&
                  (!newer_than || a.generation > (*newer_than)[i]);
      }
      all = all && done[i];
    }
    if (all) return Status::ok();
    for (const auto& p : state_.processes)
      if (p.role.starts_with("agent ") && !p.id.alive())
        return Status::error(p.role + " (pid " + std::to_string(p.id.pid) + ") exited; log " + p.log);
    std::string why;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (!done[i]) why += " " + nodes[i].name + ": " + last[i] + ";";
    if (interrupted()) return Status::error("interrupted while waiting for agents:" + why);
    if (Clock::now() >= deadline)
      return Status::error("agents not ready after " + std::to_string(timeout_ms) + " ms:" + why);
    // Polling the agents' own answer, not guessing a delay.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Lab::take_topology_addresses() {
  for (size_t i = 0; i < scenario_.hosts.size() && i < state_.topology.hosts.size(); ++i)
    scenario_.hosts[i].ip = state_.topology.hosts[i].ip;
}

Status Lab::wait_ready() { return wait_agents(nullptr, ready_timeout_ms_); }

Status Lab::apply_steps(int n) {
  if (n < 0 || n > static_cast<int>(scenario_.steps.size()))
    return Status::error("step " + std::to_string(n) + ": scenario " + scenario_.name + " has steps 1.." +
                         std::to_string(scenario_.steps.size()));
  std::vector<int64_t> before;
  for (const auto& node : state_.topology.nodes) {
    AgentStatus a;
    if (auto s = query_agent(node.netns, state_.agent_listen, a); !s) return s;
    before.push_back(a.generation);
  }
  std::string path = state_.manifests_dir + "/cluster.json";
  std::string old_text;
  {
    std::ifstream in(path);
    std::stringstream t;
    t << in.rdbuf();
    old_text = t.str();
  }
  if (auto s = write_cluster(n); !s) return s;
  std::stringstream now_text;
  now_text << std::ifstream(path).rdbuf();
  state_.steps_applied = n;
  if (auto s = save_state(state_); !s) return s;
  auto started = Clock::now();
  // The same cluster again is no change to wait for.
  auto s = now_text.str() == old_text ? wait_agents(nullptr, ready_timeout_ms_) : wait_agents(&before, ready_timeout_ms_);
  info(verbose_, "step enforced step=" + std::to_string(n) + " ms=" +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
  return s;
}

bool Lab::expected(const Probe& p) const {
  if (state_.steps_applied == 0) return true;  // no policy: everything is allowed
  return scenario_.expected(scenario_.steps[state_.steps_applied - 1], p);
}

const NetnsHandle& Lab::netns_of(const std::string& host) {
  for (const auto& [name, handle] : handles_)
    if (name == host) return handle;
  std::string ns;
  if (const auto* h = state_.topology.host(host)) ns = h->netns;
  for (const auto& n : state_.topology.nodes)
    if (n.name == host) ns = n.netns;
  handles_.emplace_back(host, NetnsHandle(ns));
  return handles_.back().second;
}

MatrixResult Lab::probe() {
  MatrixResult m;
  auto started = Clock::now();
  m.probes = scenario_.probes();
  m.not_run = std::erase_if(m.probes, [&](const Probe& p) { return !runs(p.port); });
  // Open every source's handle first: handles_ must not grow while specs
  // point into it.
  for (const auto& p : m.probes) netns_of(p.from);
  std::vector<ProbeSpec> specs;
  for (const auto& p : m.probes) specs.push_back({&netns_of(p.from), scenario_.ip_of(p.to), p.port});
  m.results = run_probes(specs, probe_options_);
  for (const auto& p : m.probes) m.expected.push_back(expected(p));

  std::vector<ProbeSpec> again;
  std::vector<size_t> where;
  for (size_t i = 0; i < m.probes.size(); ++i) {
    const auto& r = m.results[i];
    if (r.outcome == Outcome::Error || (r.outcome == Outcome::Denied && m.expected[i])) {
      again.push_back(specs[i]);
      where.push_back(i);
    }
  }
  if (!again.empty()) {
    auto slow = probe_options_;
    slow.timeout_ms *= 3;
    auto second = run_probes(again, slow);
    for (size_t k = 0; k < where.size(); ++k) m.results[where[k]] = second[k];
    m.retried = static_cast<int>(again.size());
  }
  m.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return m;
}

std::string Lab::agent_logs() const {
  std::string out;
  for (const auto& p : state_.processes)
    if (p.role.starts_with("agent ")) {
      auto tail = tail_file(p.log, 3000);
      if (!tail.empty()) out += "--- " + p.role + " log (" + p.log + ", last lines) ---\n" + tail;
    }
  return out;
}

Status Lab::down() {
  if (down_) return Status::ok();
  down_ = true;
  handles_.clear();
  return teardown(state_, verbose_);
}

Lab::~Lab() {
  if (!detached_) {
    if (auto s = down(); !s) agentlog::error(s.message());
  }
}

Status Lab::open(const LabOptions& o, std::unique_ptr<Lab>& out) {
  std::unique_ptr<Lab> lab(new Lab());
  lab->ready_timeout_ms_ = o.ready_timeout_ms;
  lab->probe_options_ = o.probe;
  lab->verbose_ = o.verbose;
  lab->sctp_ = kernel_has_sctp();
  if (auto s = load_state(o.state_root + "/" + o.name, lab->state_); !s)
    return Status::error("lab " + o.name + ": not found (" + s.message() + "); start one with `bpfence lab up FILE`");
  if (auto s = load_scenario(lab->state_.scenario_path, lab->state_.policy_dirs, lab->scenario_); !s) return s;
  lab->take_topology_addresses();
  out = std::move(lab);
  return Status::ok();
}

Status Lab::destroy(const std::string& name, const std::string& root) {
  LabState s;
  if (auto st = load_state(root + "/" + name, s); !st) return st;
  return teardown(s);
}

std::vector<std::string> Lab::list(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Lab::collect_stale(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& name : list(root)) {
    LabState s;
    if (!load_state(root + "/" + name, s)) continue;
    if (s.owner.pid == 0 || s.owner.alive()) continue;
    if (teardown(s)) out.push_back(name);
  }
  return out;
}

}  // namespace bpfence::lab
