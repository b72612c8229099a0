// Tables and plots from a netbench run (netbench_report.h).
#include "netbench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "process.h"

namespace bpfence::bench {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Key = std::tuple<std::string, int, int, std::string>;  // dataplane, pods, policies, topology

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::max<size_t>(rank, 1) - 1];
}

std::string fmt(double v, int decimals = 1) {
  if (std::isnan(v)) return "–";
  char buf[64];
  if (std::fabs(v) >= 10000 && decimals <= 1) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    std::string s = buf, out;
    int n = 0;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
      if (n && n % 3 == 0 && std::isdigit(static_cast<unsigned char>(*it))) out.insert(out.begin(), ',');
      out.insert(out.begin(), *it);
      ++n;
    }
    return out;
  }
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string with_ratio(double v, double ratio, int decimals = 1) {
  if (std::isnan(v)) return "–";
  if (std::isnan(ratio)) return fmt(v, decimals);
  return fmt(v, decimals) + " (" + fmt(ratio, 2) + ")";
}

const char* kTrafficMetrics[] = {"tcp_gbps", "udp_kpps", "rr_tps", "rr_p50_us", "rr_p99_us", "crr_cps", "agent_cpu_pct"};

struct Summary {
  std::map<Key, std::map<std::string, double>> median, ratio;
  std::set<std::string> dataplanes;
  std::vector<std::pair<int, int>> configs;  // (pods, policies), in run order
};

Summary summarize(const json& run) {
  Summary s;
  std::map<Key, std::map<std::string, std::vector<double>>> values, ratios;
  std::map<std::tuple<int, int, std::string, int>, const json*> none;
  for (const auto& c : run["cells"])
    if (c["dataplane"] == "none") none[{c["pods"], c["policies"], c["topology"], c["repeat"]}] = &c;
  for (const auto& c : run["cells"]) {
    Key k{c["dataplane"], c["pods"], c["policies"], c["topology"]};
    s.dataplanes.insert(c["dataplane"].get<std::string>());
    std::pair<int, int> cfg{c["pods"], c["policies"]};
    if (std::find(s.configs.begin(), s.configs.end(), cfg) == s.configs.end()) s.configs.push_back(cfg);
    auto base = none.find({c["pods"], c["policies"], c["topology"], c["repeat"]});
    for (const char* m : kTrafficMetrics) {
      if (!c.contains(m)) continue;
      double v = c[m];
      values[k][m].push_back(v);
      // Paired with "none" of the same repeat: drift between repeats cancels.
      if (base != none.end() && base->second->contains(m) && (*base->second)[m].get<double>() > 0)
        ratios[k][m].push_back(v / (*base->second)[m].get<double>());
    }
    // The kernel's ns per program run during each figure: "ns:<metric>:<program>".
    if (c.contains("bpf_ns_per_run"))
      for (const auto& [metric, progs] : c["bpf_ns_per_run"].items())
        for (const auto& [prog, ns] : progs.items()) values[k]["ns:" + metric + ":" + prog].push_back(ns.get<double>());
  }
  for (auto& [k, ms] : values)
    for (auto& [m, v] : ms) s.median[k][m] = median(v);
  for (auto& [k, ms] : ratios)
    for (auto& [m, v] : ms) s.ratio[k][m] = median(v);
  return s;
}

double get(const std::map<Key, std::map<std::string, double>>& t, const Key& k, const std::string& m) {
  auto it = t.find(k);
  if (it == t.end()) return NAN;
  auto jt = it->second.find(m);
  return jt == it->second.end() ? NAN : jt->second;
}

const json* config_of(const json& run, const std::string& dp, int pods, int policies) {
  for (const auto& c : run["configs"])
    if (c["dataplane"] == dp && c["pods"] == pods && c["policies"] == policies) return &c;
  return nullptr;
}

const json* datapath_of(const json& run, int pods, int policies) {
  if (!run.contains("datapath_bench")) return nullptr;
  for (const auto& r : run["datapath_bench"]["results"])
    if (r["policies"] == policies && r["identities"] == pods) return &r;
  return nullptr;
}

double num(const json* j, const char* key) {
  return j && j->contains(key) && (*j)[key].is_number() ? (*j)[key].get<double>() : NAN;
}

std::vector<double> samples(const json* c, const char* key) {
  std::vector<double> v;
  if (c && c->contains(key))
    for (const auto& x : (*c)[key]) v.push_back(x);
  return v;
}

std::vector<std::string> order(const std::set<std::string>& dps) {
  std::vector<std::string> out;
  for (const char* d : {"none", "bpf", "iptables"})
    if (dps.count(d)) out.push_back(d);
  for (const auto& d : dps)
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  return out;
}

// The pod count with the most policy counts: the x axis of the plots.
int sweep_pods(const Summary& s) {
  std::map<int, int> n;
  for (auto [pods, policies] : s.configs) ++n[pods];
  int best = 0, count = 0;
  for (auto [pods, c] : n)
    if (c > count || (c == count && pods > best)) best = pods, count = c;
  return best;
}

std::vector<int> policies_at(const Summary& s, int pods) {
  std::vector<int> out;
  for (auto [p, n] : s.configs)
    if (p == pods) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::string goals(const json& run, const Summary& s) {
  std::ostringstream o;
  o << "## Against the goals (reported, not asserted)\n\n";
  auto line = [&](const std::string& what, const std::string& got) { o << "- " << what << ": " << got << "\n"; };
  // The hit path's goals: the share of no enforcement bpf keeps per figure.
  struct Goal {
    const char* metric;
    const char* what;
    double at_least;
  };
  const Goal hit_path[] = {{"rr_tps", "transactions/s", 0.97},
                           {"udp_kpps", "UDP 64 B packets/s", 0.95},
                           {"crr_cps", "new connections/s", 0.92},
                           {"tcp_gbps", "TCP Gbit/s", 0.97}};
  for (const char* topo : {"same", "two"}) {
    for (const auto& g : hit_path) {
      double r = get(s.ratio, Key{"bpf", 10000, 1000, topo}, g.metric);
      line(std::string("bpf ") + g.what + " at 1,000 policies / 10,000 pods, " +
               (std::string(topo) == "same" ? "same node" : "two nodes") + " (goal ≥ " + fmt(g.at_least, 2) +
               " of none)",
           std::isnan(r) ? "not measured" : fmt(r, 3) + " of none" + (r >= g.at_least ? " (met)" : " (not met)"));
    }
  }
  for (const char* topo : {"same", "two"}) {
    std::vector<double> v;
    std::string detail;
    for (int p : policies_at(s, 10000)) {
      double r = get(s.ratio, Key{"bpf", 10000, p, topo}, "rr_tps");
      if (std::isnan(r)) continue;
      v.push_back(r);
      detail += (detail.empty() ? "" : ", ") + std::to_string(p) + ": " + fmt(100 * r, 1) + "%";
    }
    std::string got = "not measured";
    if (v.size() >= 2) {
      double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
      got = "spread " + fmt(100 * (hi - lo) / hi, 1) + "% of the best (ratio to none by policy count: " + detail + ")";
    }
    line(std::string("bpf transactions/s flat from 10 to 5,000 policies at 10,000 pods, ") +
             (std::string(topo) == "same" ? "same node" : "two nodes") + " (goal within 3%)",
         got);
  }
  for (const char* dp : {"bpf", "iptables"}) {
    std::string got;
    for (auto [pods, policies] : s.configs) {
      auto v = samples(config_of(run, dp, pods, policies), "update_deny_ms");
      if (v.empty()) continue;
      got += (got.empty() ? "" : "; ") + std::to_string(policies) + "@" + std::to_string(pods) + ": " +
             fmt(percentile(v, 99), 1) + " ms";
    }
    line(std::string(dp) + " policy update p99, change to first dropped packet, by policies@pods (goal for bpf < 10 ms)",
         got.empty() ? "not measured" : got);
  }
  return o.str() + "\n";
}

std::string traffic_table(const Summary& s, const std::string& topo) {
  std::ostringstream o;
  o << "| pods | policies | dataplane | TCP Gbit/s | UDP kpps (64 B) | RR trans/s | RR p50 µs | RR p99 µs | "
       "new conn/s | agent CPU % |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (auto [pods, policies] : s.configs)
    for (const auto& dp : order(s.dataplanes)) {
      Key k{dp, pods, policies, topo};
      if (!s.median.count(k)) continue;
      auto cell = [&](const char* m, int d) { return with_ratio(get(s.median, k, m), dp == "none" ? NAN : get(s.ratio, k, m), d); };
      // Beside a ratio: median ns per run of from_pod / to_pod over that figure's traffic.
      auto ns = [&](const char* figure) {
        double f = get(s.median, k, std::string("ns:") + figure + ":from_pod");
        double t = get(s.median, k, std::string("ns:") + figure + ":to_pod");
        if (std::isnan(f) && std::isnan(t)) return std::string();
        return "<br>" + (std::isnan(f) ? "–" : fmt(f, 0)) + " / " + (std::isnan(t) ? "–" : fmt(t, 0)) + " ns";
      };
      o << "| " << fmt(pods, 0) << " | " << fmt(policies, 0) << " | " << dp << " | " << cell("tcp_gbps", 2) << ns("tcp")
        << " | " << cell("udp_kpps", 1) << ns("udp") << " | " << cell("rr_tps", 0) << ns("rr") << " | "
        << cell("rr_p50_us", 1) << " | " << cell("rr_p99_us", 1) << " | " << cell("crr_cps", 0) << ns("crr") << " | "
        << (dp == "none" ? "–" : fmt(get(s.median, k, "agent_cpu_pct"), 1)) << " |\n";
    }
  return o.str() + "\n";
}

std::string control_table(const json& run, const Summary& s) {
  std::ostringstream o;
  o << "| pods | policies | dataplane | update p50 / p99 ms (n) | revert p50 / p99 ms | apply wall s | apply CPU s | "
       "agent RSS MB | kernel state KiB | iptables rules (server chain) | BPF ns/pkt hit / miss (datapath_bench) |\n"
       "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (auto [pods, policies] : s.configs)
    for (const auto& dp : order(s.dataplanes)) {
      if (dp == "none") continue;
      const json* c = config_of(run, dp, pods, policies);
      if (!c) continue;
      auto deny = samples(c, "update_deny_ms"), allow = samples(c, "update_allow_ms");
      std::string upd = deny.empty() ? "–"
                                     : fmt(percentile(deny, 50), 1) + " / " + fmt(percentile(deny, 99), 1) + " (" +
                                           std::to_string(deny.size()) + ")";
      if (c->contains("update_error")) upd += " ⚠";
      std::string rev = allow.empty() ? "–" : fmt(percentile(allow, 50), 1) + " / " + fmt(percentile(allow, 99), 1);
      std::string dpb = "–";
      if (dp == "bpf")
        if (const json* d = datapath_of(run, pods, policies))
          dpb = fmt(num(d, "hit_ns"), 0) + " / " + fmt(num(d, "miss_allow_ns"), 0);
      o << "| " << fmt(pods, 0) << " | " << fmt(policies, 0) << " | " << dp << " | " << upd << " | " << rev << " | "
        << fmt(num(c, "apply_wall_s"), 2) << " | " << fmt(num(c, "apply_cpu_s"), 2) << " | "
        << fmt(num(c, "agent_rss_mb"), 1) << " | " << fmt(num(c, "kernel_kb"), 0) << " | "
        << (c->contains("iptables_rules") ? fmt(num(c, "iptables_rules"), 0) + " (client's at " +
                                                  fmt(num(c, "client_rule_position"), 0) + " of " +
                                                  fmt(num(c, "server_chain_rules"), 0) + ")"
                                            : "–")
        << " | " << dpb << " |\n";
    }
  return o.str() + "\n";
}

struct Plot {
  std::string file, title, ylabel;
  std::string metric;  // a traffic metric, or a config one below
  bool traffic = true;
};

// Per-config values for the config plots.
double config_metric(const json& run, const std::string& dp, int pods, int policies, const std::string& m) {
  const json* c = config_of(run, dp, pods, policies);
  if (!c) return NAN;
  if (m == "update_p99_ms") return percentile(samples(c, "update_deny_ms"), 99);
  if (m == "update_p50_ms") return percentile(samples(c, "update_deny_ms"), 50);
  return num(c, m.c_str());
}

Status plots(const json& run, const Summary& s, const std::string& dir, std::string* md) {
  int pods = sweep_pods(s);
  auto xs = policies_at(s, pods);
  if (xs.size() < 2) {
    *md += "(no plots: the run has fewer than two policy counts at one pod count)\n";
    return Status::ok();
  }
  std::vector<Plot> list = {
      {"rr_tps", "TCP 1-byte ping-pong", "transactions/s", "rr_tps"},
      {"rr_p99_us", "TCP ping-pong p99 latency", "µs", "rr_p99_us"},
      {"crr_cps", "new connections (connect, 1 byte, close)", "connections/s", "crr_cps"},
      {"udp_kpps", "UDP 64-byte datagrams received", "kpps", "udp_kpps"},
      {"tcp_gbps", "TCP throughput (iperf3, 1 stream)", "Gbit/s", "tcp_gbps"},
      {"update_p99_ms", "policy update: change to first dropped packet, p99", "ms", "update_p99_ms", false},
      {"apply_cpu_s", "agent CPU to apply the whole cluster", "CPU s", "apply_cpu_s", false},
      {"agent_rss_mb", "agent RSS", "MB", "agent_rss_mb", false},
      {"kernel_kb", "kernel state (BPF maps / ipsets)", "KiB", "kernel_kb", false},
  };
  fs::create_directories(dir);
  auto dps = order(s.dataplanes);
  std::ostringstream gp;
  gp << "set terminal pngcairo size 720,440 font ',10'\nset logscale x\nset xlabel 'policies selecting the server'\n"
        "set key outside right top\nset grid\nset datafile missing 'NaN'\nset yrange [0:*]\n";
  std::string colors[] = {"#555555", "#1f77b4", "#d62728", "#2ca02c"};
  for (const auto& p : list) {
    std::string dat = dir + "/" + p.file + ".dat";
    std::ofstream out(dat);
    out << "# policies";
    std::vector<std::string> titles;
    for (const auto& dp : dps) {
      if (p.traffic) {
        for (const char* topo : {"same", "two"}) titles.push_back(dp + (std::string(topo) == "same" ? ", same node" : ", two nodes"));
      } else if (dp != "none") {
        titles.push_back(dp);
      }
    }
    for (const auto& t : titles) out << " \"" << t << "\"";
    out << "\n";
    for (int x : xs) {
      out << x;
      for (const auto& dp : dps) {
        if (p.traffic) {
          for (const char* topo : {"same", "two"}) {
            double v = get(s.median, Key{dp, pods, x, topo}, p.metric);
            out << " " << (std::isnan(v) ? std::string("NaN") : std::to_string(v));
          }
        } else if (dp != "none") {
          double v = config_metric(run, dp, pods, x, p.metric);
          out << " " << (std::isnan(v) ? std::string("NaN") : std::to_string(v));
        }
      }
      out << "\n";
    }
    gp << "set output '" << dir << "/" << p.file << ".png'\nset title '" << p.title << " (" << pods
       << " pods)'\nset ylabel '" << p.ylabel << "'\nplot ";
    int col = 2, series = 0;
    for (size_t d = 0; d < dps.size(); ++d) {
      if (!p.traffic && dps[d] == "none") continue;
      for (int t = 0; t < (p.traffic ? 2 : 1); ++t) {
        gp << (series ? ", " : "") << "'" << dat << "' using 1:" << col << " with linespoints lw 2 dt " << (t + 1)
           << " lc rgb '" << colors[std::min<size_t>(d, 3)] << "' title '" << titles[series] << "'";
        ++series;
        ++col;
      }
    }
    gp << "\n";
  }
  // One overview image for the README: the four traffic figures side by side.
  gp << "set terminal pngcairo size 1200,800 font ',9'\nset output '" << dir << "/netbench.png'\nset multiplot layout 2,2 title 'netbench "
     << run["run"].get<std::string>() << ": " << pods << " pods, median of " << run["options"]["repeats"]
     << " interleaved repeats'\nset key inside bottom left\n";
  for (const auto& p : list) {
    if (!p.traffic || p.file == "rr_p99_us" || p.file == "tcp_gbps") continue;
    gp << "set title '" << p.title << "'\nset ylabel '" << p.ylabel << "'\nplot ";
    int col = 2, series = 0;
    for (size_t d = 0; d < dps.size(); ++d)
      for (int t = 0; t < 2; ++t) {
        gp << (series++ ? ", " : "") << "'" << dir << "/" << p.file << ".dat' using 1:" << col
           << " with linespoints lw 2 dt " << (t + 1) << " lc rgb '" << colors[std::min<size_t>(d, 3)] << "' title '"
           << dps[d] << (t ? ", two nodes" : ", same node") << "'";
        ++col;
      }
    gp << "\n";
  }
  gp << "set title 'policy update p99 (change to first dropped packet)'\nset ylabel 'ms'\nset logscale y\nset yrange [*:*]\nplot ";
  {
    int col = 2, series = 0;
    for (size_t d = 0; d < dps.size(); ++d) {
      if (dps[d] == "none") continue;
      gp << (series++ ? ", " : "") << "'" << dir << "/update_p99_ms.dat' using 1:" << col++
         << " with linespoints lw 2 lc rgb '" << colors[std::min<size_t>(d, 3)] << "' title '" << dps[d] << "'";
    }
  }
  gp << "\nunset multiplot\n";
  std::string script = dir + "/plots.gp";
  std::ofstream(script) << gp.str();
  std::string out;
  if (auto st = lab::run_command({"gnuplot", script}, "", &out); !st)
    return Status::error("gnuplot " + script + ": " + st.message() + " (install gnuplot-nox; bench/run.sh does)");
  *md += "Plots (" + std::to_string(pods) + " pods, x = policies, log scale; solid = same node, dashed = two nodes): ";
  std::string rel = fs::path(dir).filename().string();
  for (const auto& p : list) *md += "[" + p.file + "](" + rel + "/" + p.file + ".png) ";
  *md += "\n\n![overview](" + rel + "/netbench.png)\n";
  return Status::ok();
}

}  // namespace

Status write_report(const json& run, const std::string& out_dir) {
  Summary s = summarize(run);
  bool quick = run["options"].value("quick", false);
  std::string base = quick ? run["run"].get<std::string>() : "netbench";
  std::ostringstream md;
  const auto& h = run["host"];
  double load_sum = 0;
  int load_n = 0;
  for (const auto& c : run["cells"]) load_sum += c.value("loadavg", 0.0), ++load_n;
  md << "# netbench " << run["run"].get<std::string>() << (quick ? " (quick)" : "") << "\n\n"
     << "Generated by `bench/run.sh` (`netbench`) from `" << run["run"].get<std::string>() << ".json`; "
     << "see bench/README.md for what each figure is.\n\n"
     << "- machine: " << h.value("cpus", 0) << " CPUs (" << h.value("cpu_model", std::string("?")) << "), kernel "
     << h.value("kernel", std::string("?")) << "\n"
     << "- commit: " << run.value("commit", std::string("not recorded")) << "\n"
     << "- load average (1 min): " << fmt(run.value("loadavg_start", NAN), 1) << " at start, "
     << fmt(load_n ? load_sum / load_n : NAN, 1) << " mean over the cells, " << fmt(run.value("loadavg_end", NAN), 1)
     << " at the end (other work shared the machine)\n"
     << "- started " << run.value("started_utc", std::string("?")) << ", wall time "
     << fmt(run.value("wall_s", NAN) / 60, 1) << " min" << (run.value("complete", false) ? "" : " (INCOMPLETE)") << "\n"
     << "- matrix (policies@pods): " << run["options"]["matrix"].get<std::string>() << "; dataplanes: "
     << run["options"]["dataplanes"].dump() << "; " << run["options"]["repeats"] << " interleaved repeats of "
     << run["options"]["seconds"] << " s per measurement; " << run["options"]["update_rounds"]
     << " update rounds per repeat\n";
  if (run["options"].value("pin_cpu", -1) >= 0)
    md << "- ping-pong and connection rate: client and servers pinned to CPU " << run["options"]["pin_cpu"]
       << " (no cross-CPU wakeups; iperf3 not pinned)\n";
  if (run.contains("note")) md << "- note: " << run["note"].get<std::string>() << "\n";
  if (run.contains("error")) md << "- **error**: " << run["error"].get<std::string>() << "\n";
  md << "\nEach figure is the median over repeats; in parentheses the median of the ratio to *none* from the same "
        "repeat (for latencies above 1 is slower).";
  if (run.value("bpf_stats", std::string()) == "stats pass") {
    md << " Under a bpf figure: `from_pod / to_pod` ns per program run (median over repeats) from its **stats pass**, "
          "the same traffic run again for "
       << run["options"].value("stats_seconds", 0.0)
       << " s right after it with the kernel's BPF run statistics on; the figure and its ratio were measured with "
          "them off.\n\n";
    long figures = 0, counted = 0;
    for (const auto& c : run["cells"])
      if (c.contains("stats_off_runs"))
        for (const auto& [m, runs] : c["stats_off_runs"].items()) ++figures, counted += runs.get<uint64_t>() > 0;
    if (counted)
      md << "**Warning**: program runs were counted during " << counted << " of " << figures
         << " bpf figures meant to run with the statistics off (the sysctl or another process held them on): "
            "those figures paid the statistics' clock reads.\n\n";
  } else {
    md << " Under a bpf figure: `from_pod / to_pod` ns per program run (median over repeats), the kernel's BPF run "
          "statistics on during the whole run, ratios included.\n\n";
  }
  md << goals(run, s);
  md << "## Traffic, client and server on the same node\n\n" << traffic_table(s, "same");
  md << "## Traffic, client and server on two nodes\n\n" << traffic_table(s, "two");
  md << "## Control plane and memory\n\nUpdate: the toggled policy flipped to deny (then back to allow: revert) while "
        "the client sends a UDP datagram every 100 µs; from the file write to the first datagram dropped (passing "
        "again). Apply: the whole cluster rewritten, both agents; agent RSS the larger of the two; kernel state on "
        "node-1: memlock of the agent's BPF maps, or ipset \"Size in memory\" (iptables rule memory not counted).\n\n"
     << control_table(run, s);
  std::string plot_md;
  std::string plot_dir = out_dir + "/" + (quick ? base + "-plots" : "plots");
  Status ps = plots(run, s, plot_dir, &plot_md);
  md << "## Plots\n\n" << plot_md << (ps ? "" : "\n(plots failed: " + ps.message() + ")\n");
  std::string path = out_dir + "/" + base + ".md";
  std::ofstream(path) << md.str();
  std::fprintf(stderr, "level=info msg=\"wrote %s\"\n", path.c_str());
  return ps;
}

}  // namespace bpfence::bench
