// `bpfence demo`: the README's first command. Brings up a two-node lab for
// each story of DESIGN.md (test/conformance/story*.yaml), applies its steps
// one by one, waits until both agents report them enforced, probes the full
// matrix with real packets, shows the server's flow table with
// `bpfence flow --match`, and tears everything down.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_options.h"
#include "command.h"
#include "lab.h"
#include "log.h"
#include "report.h"

namespace bpfence::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kDescription = R"(Tells the stories of DESIGN.md on simulated nodes: for each story a lab
(network namespaces for nodes, pods and outside hosts; a real bpfence-agent
per node), then each policy step: apply, wait for the agents' /readyz, probe
every pod and port with real TCP/UDP/ICMP packets, print the truth table and
the server's flows (`bpfence flow --match IP:PORT`). Needs root; takes well
under two minutes. Exit status 1 when a probe differs from the story's
expected table.)";

void rule(const std::string& title) {
  std::cout << "\n" << std::string(78, '=') << "\n" << title << "\n" << std::string(78, '=') << "\n";
}

// Shows the server's flows on its node, through the `flow` command when
// this build has it.
void show_flows(const lab::Lab& lab, const std::string& server, const ProbePort& port) {
  const auto* host = lab.state().topology.host(server);
  if (!host || host->external) return;
  std::string match = host->ip + ":" + std::to_string(port.port);
  const auto& node = lab.state().topology.nodes[host->node].name;
  auto& table = commands();
  auto it = table.find("flow");
  if (it == table.end()) {
    std::cout << "\n(bpfence flow is not part of this build: skipping `bpfence flow --match " << match << "`)\n";
    return;
  }
  std::string pin_dir = lab.state().bpffs_dir + "/" + node + "/bpfence/" + node;
  std::cout << "\n$ bpfence flow --match " << match << "   # on " << node << "\n" << std::flush;
  int rc = it->second.run({"--match", match, "--pin-dir", pin_dir, "--manifests", lab.state().manifests_dir});
  std::cout << std::flush;
  if (rc != 0) std::cout << "(bpfence flow exited with " << rc << ")\n";
}

int run(const Args& args) {
  std::string stories, agent;
  long nodes = 2, timeout_ms = 800;
  OptionParser p("bpfence demo [--stories DIR] [--nodes N] [--agent PATH] [--timeout-ms MS]", kDescription);
  p.value("--stories", &stories, "DIR", "folder with story*.yaml (default: test/conformance of this tree)");
  p.number("--nodes", &nodes, "N", "simulated nodes (default 2; pods spread round-robin)");
  p.value("--agent", &agent, "PATH", "bpfence-agent binary (default: next to bpfence, then PATH)");
  p.number("--timeout-ms", &timeout_ms, "MS", "per-probe timeout (default 800)");
  bool help = false;
  Status parsed = p.parse(args, nullptr, &help);
  if (help) {
    p.print_help(std::cout);
    return 0;
  }
  if (!parsed) {
    std::fprintf(stderr, "bpfence demo: %s (--help for usage)\n", parsed.message().c_str());
    return 2;
  }
  if (stories.empty()) stories = lab::find_scenario_dir();
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(stories, ec))
    if (e.path().filename().string().starts_with("story") && e.path().extension() == ".yaml")
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "bpfence demo: no story*.yaml in '%s' (run from the source tree or pass --stories DIR)\n",
                 stories.c_str());
    return 1;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bpfence demo: needs root (network namespaces, BPF): run it with sudo\n");
    return 1;
  }
  lab::install_interrupt_handlers();
  // Labs of an earlier demo that was killed: their owner is gone.
  for (const auto& name : lab::Lab::collect_stale("/run/bpfence/lab"))
    agentlog::info("removed a stale lab", "name={}", name);

  auto demo_start = Clock::now();
  std::cout << "bpfence demo: " << files.size() << " stories on " << nodes
            << " simulated nodes (network namespaces), a real bpfence-agent per node, real packets.\n"
            << "Each table: rows are sources, columns destination:port; . reached, X denied, ! not as the story "
               "expects.\n";
  std::vector<std::pair<std::string, size_t>> outcome;
  for (size_t k = 0; k < files.size(); ++k) {
    lab::LabOptions o;
    o.name = "demo-" + std::to_string(getpid()) + "-" + std::to_string(k);
    o.nodes = static_cast<int>(nodes);
    o.placement = lab::Placement::Spread;
    o.agent_path = agent;
    o.owned = true;
    o.probe.timeout_ms = static_cast<int>(timeout_ms);
    std::unique_ptr<lab::Lab> lab;
    auto up_start = Clock::now();
    if (auto s = lab::Lab::up(files[k], o, lab); !s) {
      std::fprintf(stderr, "bpfence demo: %s\n", s.message().c_str());
      return 1;
    }
    const auto& sc = lab->scenario();
    rule(sc.description);
    std::printf("lab up in %.1f s; hosts (name, IP, node, listening ports, labels):\n%s",
                std::chrono::duration<double>(Clock::now() - up_start).count(), lab::format_hosts(*lab).c_str());
    // The story's server: its first pod, on its first port.
    std::string server;
    ProbePort port{6, 80};
    for (const auto& h : sc.hosts)
      if (!h.external && !h.ports.empty()) {
        server = h.name;
        port = h.ports.front();
        break;
      }
    size_t bad = 0;
    for (int n = 0; n <= static_cast<int>(sc.steps.size()); ++n) {
      std::cout << "\n" << lab::format_step(sc, n);
      if (n > 0) {
        auto t = Clock::now();
        if (auto s = lab->apply_steps(n); !s) {
          std::fprintf(stderr, "bpfence demo: %s\n%s", s.message().c_str(), lab->agent_logs().c_str());
          return 1;
        }
        std::printf("  enforced on every node (applied_generation caught up, /readyz 200) %.0f ms after the "
                    "manifest write\n",
                    std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      }
      auto m = lab->probe();
      std::cout << lab::format_matrix(sc, m);
      bad += m.mismatches().size();
      if (n > 0 && !server.empty()) show_flows(*lab, server, port);
      if (lab::interrupted()) {
        std::fprintf(stderr, "bpfence demo: interrupted; cleaning up\n");
        return 130;
      }
    }
    if (auto s = lab->down(); !s) std::fprintf(stderr, "bpfence demo: %s\n", s.message().c_str());
    outcome.push_back({sc.name, bad});
  }
  rule("summary");
  size_t total = 0;
  for (const auto& [name, bad] : outcome) {
    std::cout << "  " << name << ": " << (bad ? std::to_string(bad) + " probes NOT as expected" : "as expected")
              << "\n";
    total += bad;
  }
  std::printf("demo finished in %.1f s; every namespace, agent and pin removed\n",
              std::chrono::duration<double>(Clock::now() - demo_start).count());
  return total ? 1 : 0;
}

const Command kDemo("demo", "the stories of DESIGN.md on simulated nodes, with real packets", run);

}  // namespace
}  // namespace bpfence::cli
