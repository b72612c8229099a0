// Shared by the agent's end-to-end tests (and bench/agent_update_latency):
// a "node" network namespace with pods routed over veths (/32 routes, proxy
// ARP: the layout of Calico and the CNI ptp plugin) or, after use_bridge(),
// pods whose veths are ports of a cni0 bridge holding their subnet's gateway
// (no per-pod route: flannel, the CNI bridge plugin), bpfence-agent running
// inside the node namespace on a manifests folder, its HTTP API read from a
// thread that entered that namespace, echo listeners in the pods and real
// TCP/UDP/ICMP probes (the lab's prober).
//
// Every name carries the pid; the Node guard removes the namespaces (and
// with them the veths), stops the processes it started (by pid) and removes
// the agent's pins, also when a test fails half-way. The manifests the
// tests write come from manifests_for_tests.h.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "bpfence/result.h"
#include "manifests_for_tests.h"
#include "netns.h"
#include "process.h"
#include "prober.h"

namespace bpfence::e2e {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Polls `done` every poll_ms until it holds or timeout_ms pass; returns
// whether it held. The one wait loop of the agent tests.
inline bool wait_until(const std::function<bool()>& done, int timeout_ms, int poll_ms = 5) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

// The value of an unlabelled sample in /metrics' text, -1 when absent.
inline double metric(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// Privileged tests: without root they skip loudly (exit 77), except in CI.
inline int root_or_skip(const char* what) {
  if (geteuid() == 0) return 0;
  const char* ci = std::getenv("CI");
  bool in_ci = ci && std::string(ci) == "true";
  std::fprintf(stderr, "\n*** %s: %s needs root (network namespaces, BPF) ***\n\n", in_ci ? "FAIL" : "SKIP", what);
  return in_ci ? 1 : 77;
}

// `--bfe2e-listener 80/TCP 53/UDP`: the test binary doubles as the pods'
// echo listener (spawned into a pod namespace). Returns -1 when argv is not
// that.
int listener_main(int argc, char** argv);

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;
};

struct PodIface {
  std::string netns;   // the pod's namespace
  std::string host;    // host-side veth name in the node namespace
  std::string ip;
  std::unique_ptr<lab::NetnsHandle> handle;
  std::optional<lab::ProcessId> listener;
};

class Node {
 public:
  // tag: a short word for names (<= 4 chars).
  Node(const std::string& tag, std::string agent_binary);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Pods on a cni0 bridge that holds `gateway_cidr` ("10.200.2.1/24");
  // call before setup().
  void use_bridge(const std::string& gateway_cidr) { bridge_gateway_ = gateway_cidr; }
  bool bridged() const { return !bridge_gateway_.empty(); }
  Status setup();  // node namespace, node address, forwarding, folders
  const std::string& node_name() const { return node_name_; }
  const std::string& node_netns() const { return node_ns_; }
  const std::string& node_ip() const { return node_ip_; }
  const std::string& manifests_dir() const { return manifests_; }
  const std::string& agent_log() const { return agent_log_; }
  const std::string& bpffs() const { return bpffs_; }

  // A pod namespace with its veth and host route (or bridge port);
  // listeners on `ports`. Bridged with pod_side false: the pod's eth0 is
  // left without address and route (the caller sets them later).
  Status add_pod(const std::string& key, const std::string& ip, const std::vector<std::string>& ports,
                 bool pod_side = true);
  // Deletes the pod's namespace (its veth goes with it, the route too).
  Status remove_pod(const std::string& key);
  PodIface& pod(const std::string& key) { return *pods_.at(key); }
  // Bridge layout: the pod side of a pod's veth (address, gateway route), as
  // the CNI configures it after the veth exists.
  Status bridge_pod_side(const PodIface& pod) const;

  // The agent (inside the node namespace).
  Status start_agent(const std::vector<std::string>& extra = {});
  // Source flags instead of `--manifests DIR` (e.g. {"--kubeconfig", FILE}).
  void use_source(std::vector<std::string> args) { source_args_ = std::move(args); }
  void kill_agent(int sig);  // and reap it
  bool agent_running() const;
  pid_t agent_pid() const { return agent_ ? agent_->pid : 0; }
  std::string agent_log_tail(size_t bytes = 4000) const { return lab::tail_file(agent_log_, bytes); }
  HttpResult get(const std::string& path) const;
  std::optional<json> status() const;
  // Polls until the agent reports a generation above `after`, applied, and
  // /readyz answers 200. Returns the status then, or nullopt on timeout.
  std::optional<json> wait_ready(int64_t after, int timeout_ms = 10000) const;
  // Polls /v1/status until `pred` holds. Returns the status it held for,
  // or nullopt on timeout.
  std::optional<json> wait_status(const std::function<bool(const json&)>& pred, int timeout_ms = 30000) const;
  // The pod's entry of /v1/endpoints, nullopt when there is none.
  std::optional<json> endpoint(const std::string& pod) const;

  // Writes a manifest atomically (hidden temporary, then rename).
  void write_manifest(const std::string& name, const std::string& yaml) const;
  void remove_manifest(const std::string& name) const;

  // One probe: "tcp", "udp" or "icmp". True when answered.
  bool probe(const std::string& from_pod, const std::string& to_ip, const std::string& proto, uint16_t port,
             int timeout_ms = 400) const;
  const lab::NetnsHandle& node_handle() const { return *node_handle_; }

  int listen_port() const { return 9617; }

 private:
  std::string tag_, agent_bin_;
  int pid_;
  std::string node_name_, node_ns_, node_ip_ = "10.250.0.1";
  std::string root_, manifests_, bpffs_, agent_log_;
  std::unique_ptr<lab::NetnsHandle> node_handle_;
  std::map<std::string, std::unique_ptr<PodIface>> pods_;
  int next_pod_ = 0;
  std::optional<lab::ProcessId> agent_;
  std::vector<std::string> source_args_;
  std::string bridge_gateway_;
  bool set_up_ = false;
};

// A TCP socket from a pod's namespace to ip:port, sends timing out after
// 2 s; *connected says whether connect() succeeded. -1 without a socket.
inline int connect_tcp(const lab::NetnsHandle& from, const std::string& ip, uint16_t port, bool* connected) {
  int fd = lab::socket_in(from, AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  *connected = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  return fd;
}

// A long-lived TCP connection from a pod: 64 bytes out every 2 ms, each
// echoed back; counts round trips and the longest silence between two.
class Stream {
 public:
  Stream(const lab::NetnsHandle& from, const std::string& ip, uint16_t port) {
    fd_ = connect_tcp(from, ip, port, &connected_);
    if (connected_) thread_ = std::thread([this] { run(); });
  }
  ~Stream() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  uint64_t round_trips() const { return round_trips_; }
  bool failed() const { return failed_; }
  double max_gap_ms() const { return max_gap_us_ / 1000.0; }
  void reset_gap() { max_gap_us_ = 0; }
  // Waits until `n` more round trips happened (or the timeout).
  bool flows(uint64_t n = 50, int timeout_ms = 3000) const {
    uint64_t start = round_trips_;
    return wait_until([&] { return round_trips_ >= start + n; }, timeout_ms, 2);
  }

 private:
  void run() {
    char out[64], in[64];
    std::memset(out, 'x', sizeof out);
    auto last = Clock::now();
    while (!stop_) {
      if (send(fd_, out, sizeof out, MSG_NOSIGNAL) != sizeof out) {
        failed_ = true;
        return;
      }
      size_t got = 0;
      while (got < sizeof in) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) {
          failed_ = true;  // five seconds without the echo: the flow was cut
          return;
        }
        ssize_t n = recv(fd_, in + got, sizeof in - got, 0);
        if (n <= 0) {
          failed_ = true;
          return;
        }
        got += n;
      }
      auto now = Clock::now();
      uint64_t gap = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
      if (gap > max_gap_us_) max_gap_us_ = gap;
      last = now;
      ++round_trips_;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  std::atomic<bool> stop_{false}, failed_{false};
  std::atomic<uint64_t> round_trips_{0}, max_gap_us_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Implementation (header-only: each test binary includes this once).

inline Node::Node(const std::string& tag, std::string agent_binary) : tag_(tag), agent_bin_(std::move(agent_binary)) {
  pid_ = static_cast<int>(getpid());
  node_name_ = "node-" + tag_ + "-" + std::to_string(pid_);
  node_ns_ = "bf" + tag_ + std::to_string(pid_) + "n";
  root_ = "/tmp/bfe2e-" + tag_ + "-" + std::to_string(pid_);
  manifests_ = root_ + "/manifests";
  agent_log_ = root_ + "/agent.log";
  bpffs_ = "/sys/fs/bpf/bfe2e-" + tag_ + "-" + std::to_string(pid_);
}

inline Node::~Node() {
  if (agent_) lab::stop_process(*agent_, 3000);
  for (auto& [key, p] : pods_)
    if (p->listener) lab::stop_process(*p->listener, 1000);
  std::vector<std::string> names;
  for (auto& [key, p] : pods_) names.push_back(p->netns);
  pods_.clear();
  names.push_back(node_ns_);
  node_handle_.reset();
  (void)lab::netns_delete(names);
  if (set_up_) {
    // The agent left its programs and pins on purpose; take them away.
    (void)lab::run_command({agent_bin_, "--node", node_name_, "--bpffs", bpffs_, "--uninstall"});
    std::error_code ec;
    fs::remove_all(bpffs_, ec);
    if (!std::getenv("BFE2E_KEEP")) fs::remove_all(root_, ec);
  }
}

inline Status Node::setup() {
  std::error_code ec;
  fs::remove_all(root_, ec);  // a Catch2 section reruns the test case with the same pid
  fs::create_directories(manifests_, ec);
  if (ec) return Status::error("create " + manifests_ + ": " + ec.message());
  fs::create_directories(bpffs_, ec);
  if (ec) return Status::error("create " + bpffs_ + ": " + ec.message());
  set_up_ = true;
  if (Status s = lab::netns_add({node_ns_}); !s) return s;
  node_handle_ = std::make_unique<lab::NetnsHandle>(node_ns_);
  // The node's own address sits on lo (this kernel may lack the dummy
  // driver); the agent finds it with getifaddrs and always allows it.
  // 169.254.1.1 is the pods' gateway (as in Calico): local on the node, so
  // the node answers ARP for it on every pod veth.
  if (Status s = lab::ip_batch(node_ns_, {"link set lo up", "addr add " + node_ip_ + "/32 dev lo",
                                          "addr add 169.254.1.1/32 dev lo"});
      !s)
    return s;
  if (bridged())
    if (Status s = lab::ip_batch(node_ns_, {"link add cni0 type bridge", "addr add " + bridge_gateway_ + " dev cni0",
                                            "link set cni0 up"});
        !s)
      return s;
  return lab::write_sysctls(node_ns_, {{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/rp_filter", "0"}});
}

inline Status Node::add_pod(const std::string& key, const std::string& ip, const std::vector<std::string>& ports,
                            bool pod_side) {
  auto p = std::make_unique<PodIface>();
  int idx = next_pod_++;
  p->netns = "bf" + tag_ + std::to_string(pid_) + "p" + std::to_string(idx);
  p->host = "bf" + std::to_string(pid_) + "h" + std::to_string(idx);
  p->ip = ip;
  if (Status s = lab::netns_add({p->netns}); !s) return s;
  PodIface& ref = *p;
  pods_[key] = std::move(p);
  if (Status s = lab::ip_batch(node_ns_, {"link add " + ref.host + " type veth peer name eth0 netns " + ref.netns});
      !s)
    return s;
  if (bridged()) {
    if (pod_side)
      if (Status s = bridge_pod_side(ref); !s) return s;
    if (Status s = lab::ip_batch(node_ns_, {"link set " + ref.host + " master cni0", "link set " + ref.host + " up"});
        !s)
      return s;
  } else {
    if (Status s = lab::ip_batch(ref.netns, {"link set lo up", "link set eth0 up", "addr add " + ip + "/32 dev eth0",
                                             "route add 169.254.1.1 dev eth0 scope link",
                                             "route add default via 169.254.1.1 dev eth0"});
        !s)
      return s;
    if (Status s = lab::write_sysctls(node_ns_, {{"net/ipv4/conf/" + ref.host + "/proxy_arp", "1"}}); !s) return s;
    if (Status s = lab::ip_batch(node_ns_, {"link set " + ref.host + " up", "route add " + ip + "/32 dev " + ref.host});
        !s)
      return s;
  }
  ref.handle = std::make_unique<lab::NetnsHandle>(ref.netns);
  if (!ports.empty()) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC)) return Status::error("pipe: " + std::string(std::strerror(errno)));
    lab::SpawnOptions so;
    so.argv = {lab::self_exe(), "--bfe2e-listener"};
    so.argv.insert(so.argv.end(), ports.begin(), ports.end());
    so.netns = lab::netns_path(ref.netns);
    so.log_path = root_ + "/listener-" + std::to_string(idx) + ".log";
    so.die_with_parent = true;
    so.ready_fd = ready[1];
    lab::ProcessId pid;
    Status s = lab::spawn(so, pid);
    close(ready[1]);
    if (s) {
      ref.listener = pid;
      s = lab::wait_ready_line(ready[0], 5000, "listener in " + ref.netns);
    }
    close(ready[0]);
    if (!s) return s;
  }
  return Status::ok();
}

inline Status Node::bridge_pod_side(const PodIface& pod) const {
  std::string gateway = bridge_gateway_.substr(0, bridge_gateway_.find('/'));
  std::string len = bridge_gateway_.substr(bridge_gateway_.find('/'));
  return lab::ip_batch(pod.netns, {"link set lo up", "link set eth0 up", "addr add " + pod.ip + len + " dev eth0",
                                   "route add default via " + gateway + " dev eth0"});
}

inline Status Node::remove_pod(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return Status::ok();
  if (it->second->listener) lab::stop_process(*it->second->listener, 1000);
  std::string ns = it->second->netns;
  pods_.erase(it);
  return lab::netns_delete({ns});
}

inline Status Node::start_agent(const std::vector<std::string>& extra) {
  lab::SpawnOptions so;
  so.argv = {agent_bin_,  "--node",   node_name_, "--manifests", manifests_, "--bpffs", bpffs_,
             "--listen", "127.0.0.1:" + std::to_string(listen_port()), "--log-level", "debug"};
  if (!source_args_.empty()) {
    so.argv.erase(so.argv.begin() + 3, so.argv.begin() + 5);  // "--manifests DIR"
    so.argv.insert(so.argv.begin() + 3, source_args_.begin(), source_args_.end());
  }
  so.argv.insert(so.argv.end(), extra.begin(), extra.end());
  // BFE2E_AGENT_CAPS=bpf,net_admin runs the agent with only those
  // capabilities (the DaemonSet's set), to prove it needs no more.
  if (const char* caps = std::getenv("BFE2E_AGENT_CAPS")) {
    std::string bounding = "--bounding-set=-all";
    std::string list = caps;
    for (size_t i = 0; i < list.size();) {
      size_t j = list.find(',', i);
      if (j == std::string::npos) j = list.size();
      if (j > i) bounding += ",+" + list.substr(i, j - i);
      i = j + 1;
    }
    so.argv.insert(so.argv.begin(), {"/usr/bin/setpriv", bounding, "--"});
  }
  so.netns = lab::netns_path(node_ns_);
  so.log_path = agent_log_;
  so.die_with_parent = true;
  lab::ProcessId pid;
  if (Status s = lab::spawn(so, pid); !s) return s;
  agent_ = pid;
  return Status::ok();
}

inline void Node::kill_agent(int sig) {
  if (!agent_) return;
  if (agent_->alive()) ::kill(agent_->pid, sig);
  int status = 0;
  waitpid(agent_->pid, &status, 0);
  agent_.reset();
}

inline bool Node::agent_running() const { return agent_ && agent_->alive(); }

inline HttpResult Node::get(const std::string& path) const {
  HttpResult r;
  Status s = lab::run_in_netns(node_ns_, [&]() -> Status {
    httplib::Client cli("127.0.0.1", listen_port());
    cli.set_connection_timeout(1, 0);
    cli.set_read_timeout(10, 0);
    auto res = cli.Get(path.c_str());
    if (!res) {
      r.error = httplib::to_string(res.error());
      return Status::ok();
    }
    r.status = res->status;
    r.body = res->body;
    return Status::ok();
  });
  if (!s) r.error = s.message();
  return r;
}

inline std::optional<json> Node::status() const {
  HttpResult r = get("/v1/status");
  if (r.status != 200) return std::nullopt;
  try {
    return json::parse(r.body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

inline std::optional<json> Node::wait_ready(int64_t after, int timeout_ms) const {
  std::optional<json> ready_status;
  wait_until(
      [&] {
        auto st = status();
        if (!st || (*st)["generation"].get<int64_t>() <= after ||
            (*st)["applied_generation"].get<int64_t>() != (*st)["generation"].get<int64_t>())
          return false;
        if (get("/readyz").status != 200) return false;
        // The status read after /readyz said 200 is what that 200 covered.
        auto again = status();
        if (!again || !(*again)["ready"].get<bool>()) return false;
        ready_status = std::move(again);
        return true;
      },
      timeout_ms);
  return ready_status;
}

inline std::optional<json> Node::wait_status(const std::function<bool(const json&)>& pred, int timeout_ms) const {
  std::optional<json> held;
  wait_until(
      [&] {
        auto st = status();
        if (!st || !pred(*st)) return false;
        held = std::move(st);
        return true;
      },
      timeout_ms, 10);
  return held;
}

inline void Node::write_manifest(const std::string& name, const std::string& yaml) const {
  std::string tmp = manifests_ + "/." + name + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << yaml;
  }
  fs::rename(tmp, manifests_ + "/" + name);
}

inline void Node::remove_manifest(const std::string& name) const { fs::remove(manifests_ + "/" + name); }

inline std::optional<json> Node::endpoint(const std::string& pod) const {
  auto r = get("/v1/endpoints");
  if (r.status != 200) return std::nullopt;
  json j = json::parse(r.body);
  for (const auto& e : j["endpoints"])
    if (e["pod"] == pod) return e;
  return std::nullopt;
}

inline bool Node::probe(const std::string& from_pod, const std::string& to_ip, const std::string& proto,
                        uint16_t port, int timeout_ms) const {
  lab::ProbeSpec spec;
  spec.source = from_pod == "node" ? node_handle_.get() : pods_.at(from_pod)->handle.get();
  spec.dst_ip = to_ip;
  spec.port.proto = proto == "tcp" ? 6 : proto == "udp" ? 17 : 1;
  spec.port.port = port;
  lab::ProbeOptions o;
  o.timeout_ms = timeout_ms;
  auto res = lab::run_probes({spec}, o);
  return !res.empty() && res[0].outcome == lab::Outcome::Allowed;
}

// `bpfence ARGS...` run in the node's namespace (not with `ip netns exec`,
// which remounts /sys and so hides the pins); its output, kept in `log`.
inline std::string run_cli(const Node& node, const std::string& cli, const std::vector<std::string>& args,
                           const std::string& log) {
  lab::SpawnOptions so;
  so.argv = {cli};
  so.argv.insert(so.argv.end(), args.begin(), args.end());
  so.netns = lab::netns_path(node.node_netns());
  so.log_path = log;
  so.die_with_parent = true;
  lab::ProcessId p;
  if (!lab::spawn(so, p)) return "spawn " + cli + " failed";
  wait_until([&] { return !p.alive(); }, 10000, 10);
  if (p.alive()) lab::stop_process(p, 500);
  std::ifstream in(log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace bpfence::e2e

// REQUIRE on a Status, showing its message when it fails.
#define BFE2E_REQUIRE_OK(expr)              \
  do {                                      \
    ::bpfence::Status bfe2e_status_ = (expr); \
    INFO(bfe2e_status_.message());          \
    REQUIRE(bfe2e_status_.is_ok());         \
  } while (0)
