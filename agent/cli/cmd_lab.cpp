// `bpfence lab`: simulated nodes and pods in network namespaces, with a real
// bpfence-agent per node, driven by a conformance scenario file.
//
//   lab up FILE     create the lab, start listeners and agents, wait for /readyz
//   lab apply STEP  hold the scenario's steps 1..STEP, wait until enforced, probe
//   lab probe       the full matrix against the current step's expectation
//   lab run FILE    up, every step with a probe, down (what the e2e suite does)
//   lab down        remove namespaces, processes, pins and files
//   lab list        labs on this machine
//   lab listen      (internal) the echo listener run inside each pod
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "cli_options.h"
#include "command.h"
#include "lab.h"
#include "listener.h"
#include "report.h"

namespace bpfence::cli {
namespace {

using lab::Lab;
using lab::LabOptions;

const char* kUsage = R"(usage: bpfence lab up FILE [--name LAB] [--nodes N] [--placement same|spread]
                     [--cni routed|bridge] [--ipv6] [--dataplane bpf] [--agent PATH] [--policy-dir DIR]...
       bpfence lab apply STEP [--name LAB] [--no-probe]   (STEP: number or name; 0 = no policies)
       bpfence lab probe [--name LAB]
       bpfence lab run FILE [--nodes N] [--placement same|spread] [--cni routed|bridge] [--ipv6] [--name LAB]
       bpfence lab down [--name LAB | --all | --stale]
       bpfence lab list

A lab is a conformance scenario (test/conformance/*.yaml) on simulated nodes:
one network namespace per node, pod and external host, pods routed /32 from
their node's veths (--cni routed, as Calico) or ports of a cni0 bridge with
host-gw routes between nodes (--cni bridge, as flannel), nodes joined by an
underlay router, an echo listener on
every declared port and one bpfence-agent per node on the lab's manifests.
Steps are applied by rewriting the manifests; the lab then waits for every
agent's applied generation and /readyz (never a fixed delay) and probes every
pod and port (TCP, UDP, ICMP) with real packets, printing a truth table with
mismatches against the scenario's expectation marked `!`.

options:
  --name LAB           lab name (default: lab); state in /run/bpfence/lab/LAB
  --nodes N            simulated nodes (default 2)
  --placement P        same: every pod on node-1; spread: round-robin (default)
  --cni LAYOUT         routed: a /32 route per pod veth (default); bridge: veths on cni0
  --ipv6               the scenario over IPv6: every address a.b.c.d becomes fd00::a.b.c.d
                       (refused for a scenario marked ipv4_only); a scenario that gives
                       IPv6 addresses runs over IPv6 without it
  --dataplane KIND     passed to each agent (default bpf)
  --agent PATH         bpfence-agent binary (default: next to bpfence, then PATH)
  --policy-dir DIR     where the scenario's policy files are looked up (repeatable)
  --timeout-ms MS      per-probe timeout (default 1000)
  --no-probe           `apply` only waits for enforcement
  --quiet              no progress lines
Exit status: 0, 1 when a probe differs from the expectation or a step fails, 2 for usage.
)";

struct Parsed {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;
  std::string error;

  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second.back();
  }
};

// Every lab verb takes the same options (each ignores those it has no use
// for); the last of a repeated value wins, --policy-dir keeps them all.
Parsed parse(const Args& args, const std::set<std::string>& with_value, const std::set<std::string>& flags) {
  Parsed p;
  OptionParser parser("bpfence lab VERB", "");
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, bool> given;
  for (const auto& name : with_value) parser.values(name, &values[name], "VALUE", "");
  for (const auto& name : flags)
    if (name != "--help" && name != "-h") parser.flag(name, &given[name], "");
  bool help = false;
  if (Status s = parser.parse(args, &p.positional, &help); !s) {
    p.error = s.message();
    return p;
  }
  if (help) p.flags.insert("--help");
  for (auto& [name, v] : values)
    if (!v.empty()) p.values[name] = std::move(v);
  for (const auto& [name, on] : given)
    if (on) p.flags.insert(name);
  return p;
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "bpfence lab: %s\n\n%s", msg.c_str(), kUsage);
  return 2;
}

const std::set<std::string> kValueOptions = {"--name",       "--nodes",      "--placement", "--dataplane", "--cni",
                                             "--agent",      "--policy-dir", "--timeout-ms", "--state-root",
                                             "--ready-fd",   "--port"};
const std::set<std::string> kFlags = {"--no-probe", "--all", "--stale", "--quiet", "--ipv6", "--help", "-h"};

Status options_from(const Parsed& p, LabOptions& o) {
  o.name = p.get("--name", "lab");
  o.state_root = p.get("--state-root", o.state_root);
  o.dataplane = p.get("--dataplane", o.dataplane);
  o.agent_path = p.get("--agent");
  o.verbose = !p.flags.count("--quiet");
  o.ipv6 = p.flags.count("--ipv6") > 0;
  if (p.values.count("--policy-dir")) o.policy_dirs = p.values.at("--policy-dir");
  try {
    o.nodes = std::stoi(p.get("--nodes", "2"));
    o.probe.timeout_ms = std::stoi(p.get("--timeout-ms", "1000"));
  } catch (...) {
    return Status::error("--nodes and --timeout-ms take numbers");
  }
  if (o.probe.timeout_ms < 50 || o.probe.timeout_ms > 60000) return Status::error("--timeout-ms: want 50..60000");
  std::string placement = p.get("--placement", "spread");
  if (placement == "same") o.placement = lab::Placement::Same;
  else if (placement == "spread") o.placement = lab::Placement::Spread;
  else return Status::error("--placement " + placement + ": want same or spread");
  std::string cni = p.get("--cni", "routed");
  if (auto c = lab::parse_cni(cni)) o.cni = *c;
  else return Status::error("--cni " + cni + ": want routed or bridge");
  return Status::ok();
}

// Probes and prints; returns the number of mismatches.
size_t probe_and_print(Lab& lab) {
  auto m = lab.probe();
  std::cout << lab::format_matrix(lab.scenario(), m) << std::flush;
  return m.mismatches().size();
}

int cmd_up(const Parsed& p) {
  if (p.positional.size() != 1) return usage_error("lab up takes one scenario FILE");
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  o.owned = false;  // runs until `lab down`
  lab::install_interrupt_handlers();
  std::unique_ptr<Lab> lab;
  if (auto s = Lab::up(p.positional[0], o, lab); !s) {
    std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
    return 1;
  }
  std::cout << "lab " << o.name << " is up: scenario " << lab->scenario().name << ", "
            << lab->state().topology.nodes.size() << " node(s), every agent ready\n"
            << lab::format_hosts(*lab) << "steps:";
  for (size_t i = 0; i < lab->scenario().steps.size(); ++i)
    std::cout << " " << i + 1 << "=\"" << lab->scenario().steps[i].name << "\"";
  std::cout << "\nnext: bpfence lab apply 1" << (o.name == "lab" ? "" : " --name " + o.name) << "\n";
  return 0;
}

int cmd_apply(const Parsed& p) {
  if (p.positional.size() != 1) return usage_error("lab apply takes one STEP (a number or a step name)");
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  lab::install_interrupt_handlers();
  std::unique_ptr<Lab> lab;
  if (auto s = Lab::open(o, lab); !s) {
    std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
    return 1;
  }
  const auto& steps = lab->scenario().steps;
  int n = -1;
  const std::string& want = p.positional[0];
  if (!want.empty() && want.find_first_not_of("0123456789") == std::string::npos) n = std::stoi(want);
  for (size_t i = 0; n < 0 && i < steps.size(); ++i)
    if (steps[i].name == want) n = static_cast<int>(i) + 1;
  if (n < 0 || n > static_cast<int>(steps.size()))
    return usage_error("step " + want + ": scenario " + lab->scenario().name + " has steps 0.." +
                       std::to_string(steps.size()));
  std::cout << lab::format_step(lab->scenario(), n);
  if (auto s = lab->apply_steps(n); !s) {
    std::fprintf(stderr, "bpfence lab: %s\n%s", s.message().c_str(), lab->agent_logs().c_str());
    return 1;
  }
  if (p.flags.count("--no-probe")) return 0;
  return probe_and_print(*lab) ? 1 : 0;
}

int cmd_probe(const Parsed& p) {
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  std::unique_ptr<Lab> lab;
  if (auto s = Lab::open(o, lab); !s) {
    std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
    return 1;
  }
  std::cout << lab::format_step(lab->scenario(), lab->steps_applied());
  return probe_and_print(*lab) ? 1 : 0;
}

int cmd_run(const Parsed& p) {
  if (p.positional.size() != 1) return usage_error("lab run takes one scenario FILE");
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  if (!p.values.count("--name")) o.name = "run-" + std::to_string(getpid());
  lab::install_interrupt_handlers();
  std::unique_ptr<Lab> lab;
  if (auto s = Lab::up(p.positional[0], o, lab); !s) {
    std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
    return 1;
  }
  std::cout << lab->scenario().name << ": " << lab->scenario().description << "\n" << lab::format_hosts(*lab);
  size_t bad = 0;
  for (int n = 0; n <= static_cast<int>(lab->scenario().steps.size()); ++n) {
    std::cout << "\n" << lab::format_step(lab->scenario(), n);
    if (n > 0)
      if (auto s = lab->apply_steps(n); !s) {
        std::fprintf(stderr, "bpfence lab: %s\n%s", s.message().c_str(), lab->agent_logs().c_str());
        return 1;
      }
    bad += probe_and_print(*lab);
    if (lab::interrupted()) return 1;
  }
  auto s = lab->down();
  if (!s) std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
  std::cout << "\n" << lab->scenario().name << ": " << (bad ? std::to_string(bad) + " mismatches" : "every probe as expected")
            << "\n";
  return bad || !s ? 1 : 0;
}

int cmd_down(const Parsed& p) {
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  std::vector<std::string> names;
  if (p.flags.count("--stale")) {
    for (const auto& n : Lab::collect_stale(o.state_root)) std::cout << "removed stale lab " << n << "\n";
    return 0;
  }
  if (p.flags.count("--all")) names = Lab::list(o.state_root);
  else names = {o.name};
  int rc = 0;
  for (const auto& n : names) {
    if (auto s = Lab::destroy(n, o.state_root); !s) {
      std::fprintf(stderr, "bpfence lab: %s\n", s.message().c_str());
      rc = 1;
    } else {
      std::cout << "lab " << n << " is down\n";
    }
  }
  return rc;
}

int cmd_list(const Parsed& p) {
  LabOptions o;
  if (auto s = options_from(p, o); !s) return usage_error(s.message());
  for (const auto& n : Lab::list(o.state_root)) {
    lab::LabState st;
    if (!lab::load_state(o.state_root + "/" + n, st)) {
      std::cout << n << "  (unreadable state)\n";
      continue;
    }
    std::cout << n << "  " << st.scenario_path << "  nodes=" << st.topology.nodes.size()
              << " placement=" << st.placement << " cni=" << lab::cni_name(st.topology.cni)
              << " family=" << (st.topology.ipv6() ? "ipv6" : "ipv4") << " step=" << st.steps_applied
              << (st.owner.pid && !st.owner.alive() ? "  STALE (owner gone: bpfence lab down --stale)" : "") << "\n";
  }
  return 0;
}

int cmd_listen(const Parsed& p) {
  std::vector<ProbePort> ports;
  if (p.values.count("--port"))
    for (const auto& text : p.values.at("--port")) {
      auto port = ProbePort::parse(text);
      if (!port || port->proto == 1) return usage_error("--port " + text + ": want e.g. 80/TCP or 53/UDP");
      ports.push_back(*port);
    }
  int fd = -1;
  if (p.values.count("--ready-fd")) fd = std::atoi(p.get("--ready-fd").c_str());
  return lab::run_listener(ports, fd, p.flags.count("--ipv6") > 0);
}

int run(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  Parsed p = parse(Args(args.begin() + 1, args.end()), kValueOptions, kFlags);
  if (!p.error.empty()) return usage_error(p.error);
  if (p.flags.count("--help") || p.flags.count("-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string& verb = args[0];
  if (verb == "up") return cmd_up(p);
  if (verb == "apply") return cmd_apply(p);
  if (verb == "probe") return cmd_probe(p);
  if (verb == "run") return cmd_run(p);
  if (verb == "down") return cmd_down(p);
  if (verb == "list") return cmd_list(p);
  if (verb == "listen") return cmd_listen(p);
  return usage_error("unknown lab command '" + verb + "'");
}

const Command kLab("lab", "simulated nodes and pods in network namespaces: up, apply, probe, run, down", run);

}  // namespace
}  // namespace bpfence::cli
