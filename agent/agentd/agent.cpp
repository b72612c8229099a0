// The agent process: start-up, signals, shutdown, --uninstall.
#include "agent.h"

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include <cstdio>
#include <cstdlib>

#include "host_ips.h"
#include "k8s/api_source.h"
#include "k8s/kubeconfig.h"
#include "log.h"
#include "manifest_source.h"

#ifndef BPFENCE_VERSION
#define BPFENCE_VERSION "0.0.0"
#endif

namespace bpfence {

Agent::Agent(AgentOptions options) : options_(std::move(options)) {}

Agent::~Agent() { stop(); }

Status Agent::make_source() {
  if (!options_.manifests.empty()) {
    auto m = std::make_unique<ManifestSource>(options_.manifests);
    if (Status s = m->open(); !s) return s;
    source_ = std::move(m);
    return Status::ok();
  }
  KubeConfig config;
  if (!options_.kubeconfig.empty()) {
    if (Status s = load_kubeconfig(options_.kubeconfig, config); !s) return s;
  } else {
    if (Status s = load_in_cluster_config(InClusterEnv::from_environment(), config); !s) return s;
  }
  ApiSourceOptions o;
  o.log = [](std::string_view line) { agentlog::raw(line); };
  o.absent_recheck = std::chrono::seconds(options_.crd_recheck_seconds);
  std::unique_ptr<ApiSource> api;
  if (Status s = ApiSource::create(config, std::move(o), api); !s) return s;
  source_ = std::move(api);
  return Status::ok();
}

Status Agent::start() {
  info_.node = options_.node;
  info_.dataplane = options_.dataplane;
  info_.version = BPFENCE_VERSION;
  info_.started_at = std::chrono::system_clock::now();

  ListenAddress listen;
  if (Status s = parse_listen_address(options_.listen, &listen); !s) return s;

  std::vector<IpAddress> host_ips;
  if (options_.host_ips.empty()) {
    if (Status s = node_addresses(&host_ips); !s) return s;
  } else {
    for (const std::string& text : options_.host_ips) {
      auto ip = IpAddress::parse(text);
      if (!ip) return Status::error("--host-ip " + text + ": not an IP address");
      host_ips.push_back(*ip);
    }
  }
  std::string host_text;
  for (const IpAddress& ip : host_ips) host_text += (host_text.empty() ? "" : ",") + ip.str();

  if (Status s = make_source(); !s) return s;
  info_.source = source_->describe();

  if (options_.dataplane == "bpf") {
    struct statfs fs {};
    if (statfs(options_.bpffs.c_str(), &fs) != 0)
      return Status::error("--bpffs " + options_.bpffs + ": " + std::strerror(errno));
    if (static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC)
      return Status::error("--bpffs " + options_.bpffs + ": not a bpf filesystem (mount -t bpf bpf " +
                           options_.bpffs + "): pinned maps there would not outlive the agent");
  }
  DataplaneConfig dc{options_.dataplane, options_.node, options_.bpffs};
  dc.max_flows = options_.max_flows;
  dc.max_policy = options_.max_policy;
  dc.trace_new_flows = options_.trace_new_flows;
  if (Status s = open_dataplane(dc, &dataplane_); !s) return s;
  info_.dataplane_location = dataplane_.location;
  info_.dataplane_adopted = dataplane_.adopted;
  if (Status s = interfaces_.open(); !s) return s;

  host_ips_ = host_ips;
  reconciler_ = std::make_unique<Reconciler>(ReconcilerOptions{options_.node, host_ips}, dataplane_, interfaces_,
                                             *source_);

  HttpServerOptions ho;
  ho.log = [](const std::string& line) { agentlog::raw(line); };
  http_ = std::make_unique<HttpServer>(ho);
  register_agent_routes(*http_, info_, *reconciler_, dataplane_.dataplane->observer(), counters_);
  if (Status s = http_->start(listen); !s) return s;
  if (!listen.loopback())
    agentlog::warn("HTTP API listens beyond loopback, as --listen asked", "listen=" + listen.str());

  agentlog::info("starting", "node=" + options_.node + " dataplane=" + options_.dataplane +
                                 " pin_dir=" + dataplane_.location + " adopted=" +
                                 (dataplane_.adopted ? "true" : "false") + " source=" + agentlog::q(info_.source) +
                                 " listen=" + listen.str() + " host_ips=" + host_text);
  started_ = true;
  reconciler_->start();
  interfaces_.start([this] { reconciler_->interfaces_changed(); }, [this] { refresh_host_ips(); });
  source_->start([this](SourceUpdate u) { reconciler_->post(std::move(u)); });
  sweeper_ = std::thread([this] { sweep_loop(); });
  return Status::ok();
}

void Agent::sweep_loop() {
  auto next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(options_.sweep_interval_seconds);
  for (int tick = 1;; ++tick) {
    {
      std::unique_lock lock(sweep_mutex_);
      if (sweep_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) return;
    }
    check_pins();
    // rtnetlink reports address changes; this catches what it could miss.
    if (tick % 30 == 0) refresh_host_ips();
    if (std::chrono::steady_clock::now() < next_sweep) continue;
    next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(options_.sweep_interval_seconds);
    const DataplaneObserver* observer = dataplane_.dataplane->observer();
    if (!observer || !observer->has_flows()) continue;
    SweepStats stats;
    Status s = observer->sweep(&stats);
    ++counters_.sweeps;
    counters_.flows_swept += stats.deleted;
    if (!s) {
      ++counters_.sweep_errors;
      agentlog::warn("flow ageing failed", "error=" + agentlog::q(s.message()));
    } else if (stats.deleted) {
      agentlog::debug("flows aged out", "scanned=" + std::to_string(stats.scanned) +
                                            " deleted=" + std::to_string(stats.deleted));
    }
  }
}

void Agent::check_pins() {
  std::vector<std::string> restored;
  Status s = dataplane_.dataplane->repin(&restored);
  if (!restored.empty()) {
    std::string names;
    for (const std::string& n : restored) names += (names.empty() ? "" : ",") + n;
    // Enforcement never stopped (the programs hold the maps); only readers
    // that open pins by path (CLI, a restarted agent) could not find them.
    agentlog::warn("pinned maps were removed under the agent; pinned them again",
                   "pin_dir=" + dataplane_.location + " maps=" + names);
  }
  if (!s) agentlog::warn("cannot restore pinned maps", "pin_dir=" + dataplane_.location + " error=" + agentlog::q(s.message()));
}

void Agent::refresh_host_ips() {
  if (!options_.host_ips.empty() || !reconciler_) return;
  std::vector<IpAddress> ips;
  if (Status s = node_addresses(&ips); !s) {
    agentlog::warn("cannot read the node's addresses", "error=" + agentlog::q(s.message()));
    return;
  }
  std::lock_guard lock(host_ips_mutex_);
  if (!host_ips_changed(host_ips_, ips)) return;
  auto text = [](const std::vector<IpAddress>& from, const std::vector<IpAddress>& minus) {
    std::string t;
    for (const IpAddress& ip : from)
      if (!std::binary_search(minus.begin(), minus.end(), ip)) t += (t.empty() ? "" : ",") + ip.str();
    return t.empty() ? std::string("none") : t;
  };
  agentlog::info("host addresses changed", "added=" + text(ips, host_ips_) + " removed=" + text(host_ips_, ips));
  host_ips_ = ips;
  reconciler_->set_host_ips(std::move(ips));
}

void Agent::stop() {
  if (!started_) return;
  started_ = false;
  // Inputs first, then the API, then the loop; the dataplane goes last and
  // leaves its programs attached and its maps pinned.
  if (source_) source_->stop();
  interfaces_.stop();
  {
    std::lock_guard lock(sweep_mutex_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (http_) http_->stop();
  if (reconciler_) reconciler_->stop();
  agentlog::info("stopped; programs stay attached and maps pinned", "pin_dir=" + dataplane_.location);
}

namespace {

// libbpf's messages as the agent's log lines. "Exclusivity flag on" is the
// kernel saying a clsact qdisc already exists, which the dataplane expects.
int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;  // per-map and per-section chatter
  char buf[2048];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  std::string text(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  agentlog::Level l = level == LIBBPF_WARN ? agentlog::Level::warn : agentlog::Level::debug;
  if (text.find("Exclusivity flag on") != std::string::npos) l = agentlog::Level::debug;
  agentlog::line(l, "libbpf", "text=" + agentlog::q(text));
  return n;
}

}  // namespace

int agent_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* ksh = std::getenv("KUBERNETES_SERVICE_HOST");
  AgentOptions options;
  if (Status s = parse_agent_options(args, ksh ? ksh : "", &options); !s) {
    std::fprintf(stderr, "bpfence-agent: %s\n", s.message().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(agent_usage(), stdout);
    return 0;
  }
  agentlog::Level level;
  if (!agentlog::parse_level(options.log_level, &level)) {
    std::fprintf(stderr, "bpfence-agent: --log-level %s: expected debug, info, warn or error\n",
                 options.log_level.c_str());
    return 2;
  }
  agentlog::set_level(level);
  libbpf_set_print(libbpf_log);

  if (options.uninstall) {
    std::string where;
    Status s = uninstall_dataplane({options.dataplane, options.node, options.bpffs}, &where);
    if (!s) {
      agentlog::error("uninstall failed", "location=" + where + " error=" + agentlog::q(s.message()));
      return 1;
    }
    agentlog::info("uninstalled", "node=" + options.node + " location=" + where);
    return 0;
  }

  // Signals are taken synchronously by the main thread; every other thread
  // inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Agent agent(options);
  if (Status s = agent.start(); !s) {
    agentlog::error("cannot start", "error=" + agentlog::q(s.message()));
    agent.stop();
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  agentlog::info("signal received, stopping", std::string("signal=") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  agent.stop();
  return 0;
}

}  // namespace bpfence
