// Text for the lab commands and the demo (see report.h).
#include "report.h"

#include <sstream>

namespace bpfence::lab {

namespace {

std::string labels_text(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (k == "kubernetes.io/metadata.name") continue;
    out += (out.empty() ? "" : ",") + k + "=" + v;
  }
  return out;
}

std::string selector_text(const LabelSelector& s) {
  if (s.empty()) return "{}";
  std::string out = labels_text(s.match_labels);
  static const char* ops[] = {"in", "notin", "exists", "!exists"};
  for (const auto& e : s.match_expressions) {
    out += (out.empty() ? "" : ",") + e.key + " " + ops[static_cast<int>(e.op)];
    if (!e.values.empty()) {
      out += " (";
      for (size_t i = 0; i < e.values.size(); ++i) out += (i ? "," : "") + e.values[i];
      out += ")";
    }
  }
  return out;
}

std::string rules_text(const std::vector<PolicyRule>& rules) {
  if (rules.empty()) return "nothing";
  std::string out;
  for (size_t r = 0; r < rules.size(); ++r) {
    const auto& rule = rules[r];
    std::string peers;
    for (const auto& p : rule.peers) {
      std::string one;
      if (p.namespace_selector) one += "ns[" + selector_text(*p.namespace_selector) + "]";
      if (p.pod_selector) one += std::string(one.empty() ? "" : "&") + "pod[" + selector_text(*p.pod_selector) + "]";
      if (p.ip_block) {
        one += p.ip_block->cidr.str();
        for (const auto& e : p.ip_block->except) one += " except " + e.str();
      }
      peers += (peers.empty() ? "" : " | ") + one;
    }
    std::string ports;
    for (const auto& p : rule.ports) {
      std::string one = p.port ? std::to_string(*p.port) : p.port_name.empty() ? "*" : p.port_name;
      if (p.end_port) one += "-" + std::to_string(*p.end_port);
      ports += (ports.empty() ? "" : ",") + one + "/" + protocol_name(p.proto());
    }
    out += (r ? "; " : "") + (peers.empty() ? std::string("any peer") : peers) + " on " +
           (ports.empty() ? std::string("any port") : ports);
  }
  return out;
}

}  // namespace

std::string summarize_policy(const NetworkPolicy& p) {
  std::string out = p.key() + " selects pods [" + selector_text(p.pod_selector) + "]";
  if (p.affects_ingress()) out += "; ingress from " + rules_text(p.ingress);
  if (p.affects_egress()) out += "; egress to " + rules_text(p.egress);
  if (!p.affects_egress() && !p.egress.empty()) out += "; egress rules ignored (policyTypes has no Egress)";
  return out;
}

std::string format_hosts(const Lab& lab) {
  std::ostringstream out;
  const auto& st = lab.state();
  size_t width = 4;
  for (const auto& h : st.topology.hosts) width = std::max(width, h.name.size());
  for (size_t i = 0; i < st.topology.hosts.size(); ++i) {
    const auto& h = st.topology.hosts[i];
    const auto& sh = lab.scenario().hosts[i];
    std::string where = h.external ? "outside" : st.topology.nodes[h.node].name;
    std::string ports;
    for (const auto& p : sh.ports) ports += (ports.empty() ? "" : ",") + p.str();
    out << "  " << h.name << std::string(width - h.name.size() + 2, ' ') << h.ip
        << std::string(h.ip.size() < 16 ? 16 - h.ip.size() : 1, ' ') << where
        << std::string(where.size() < 9 ? 9 - where.size() : 1, ' ') << (ports.empty() ? "-" : ports) << "  "
        << labels_text(sh.labels) << "\n";
  }
  return out.str();
}

std::string format_step(const Scenario& sc, int step) {
  if (step == 0) return "step 0: no policies (everything is allowed)\n";
  const auto& s = sc.steps[step - 1];
  std::ostringstream out;
  out << "step " << step << "/" << sc.steps.size() << " \"" << s.name << "\"\n";
  for (const auto& p : s.apply) out << "  apply   " << summarize_policy(p) << "\n";
  for (const auto& r : s.remove) out << "  delete  " << r << "\n";
  for (const auto& ns : s.relabel) out << "  label   namespace " << ns.name << " " << labels_text(ns.labels) << "\n";
  return out.str();
}

}  // namespace bpfence::lab
