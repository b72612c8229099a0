// NetworkPolicy pieces in words.
#include "cli_policy_text.h"

namespace bpfence::cli {

std::string selector_text(const LabelSelector& s) {
  if (s.empty()) return "{}";
  std::string out;
  for (const auto& [k, v] : s.match_labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  static const char* ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
  for (const auto& e : s.match_expressions) {
    out += (out.empty() ? "" : ",") + e.key + " " + ops[static_cast<int>(e.op)];
    if (!e.values.empty()) {
      out += " (";
      for (size_t i = 0; i < e.values.size(); ++i) out += (i ? "," : "") + e.values[i];
      out += ")";
    }
  }
  return "{" + out + "}";
}

std::string peer_text(const PolicyPeer& p) {
  if (p.ip_block) {
    std::string out = "ipBlock " + p.ip_block->cidr.str();
    if (!p.ip_block->except.empty()) {
      out += " except ";
      for (size_t i = 0; i < p.ip_block->except.size(); ++i) out += (i ? "," : "") + p.ip_block->except[i].str();
    }
    return out;
  }
  std::string out;
  if (p.namespace_selector) out = "namespaceSelector" + selector_text(*p.namespace_selector);
  if (p.pod_selector) out += (out.empty() ? "" : " ") + std::string("podSelector") + selector_text(*p.pod_selector);
  return out.empty() ? "nothing" : out;
}

std::string port_text(const PolicyPort& p) {
  std::string proto = protocol_name(p.proto());
  if (!p.port_name.empty()) return p.port_name + "/" + proto;
  if (!p.port) return "all " + proto;
  std::string out = std::to_string(*p.port);
  if (p.end_port) out += "-" + std::to_string(*p.end_port);
  return out + "/" + proto;
}

std::string rule_text(const PolicyRule& rule, bool ingress) {
  std::string out = ingress ? "from " : "to ";
  if (rule.peers.empty()) {
    out += "anywhere";
  } else {
    for (size_t i = 0; i < rule.peers.size(); ++i) out += (i ? " or " : "") + peer_text(rule.peers[i]);
  }
  out += " on ";
  if (rule.ports.empty()) return out + "any port";
  for (size_t i = 0; i < rule.ports.size(); ++i) out += (i ? ", " : "") + port_text(rule.ports[i]);
  return out;
}

namespace {

std::string cnp_pods_text(const CnpPods& p) {
  return "pods(namespaces" + selector_text(p.namespace_selector) + " pods" + selector_text(p.pod_selector) + ")";
}

std::string cnp_peer_text(const CnpPeer& p) {
  if (p.namespaces) return "namespaces" + selector_text(*p.namespaces);
  if (p.pods) return cnp_pods_text(*p.pods);
  std::string out = "networks ";
  for (size_t i = 0; i < p.networks.size(); ++i) out += (i ? "," : "") + p.networks[i].str();
  return out;
}

std::string cnp_protocol_text(const CnpProtocol& p) {
  if (!p.named_port.empty()) return p.named_port + " (named)";
  std::string ports = std::to_string(p.port) + (p.end_port != p.port ? "-" + std::to_string(p.end_port) : "");
  return ports + "/" + protocol_name(p.protocol);
}

}  // namespace

std::string cnp_subject_text(const CnpSubject& s) {
  if (s.namespaces) return "namespaces" + selector_text(*s.namespaces);
  if (s.pods) return cnp_pods_text(*s.pods);
  return "nothing";
}

std::string cnp_rule_text(const CnpRule& rule, bool ingress) {
  std::string out = std::string(cnp_action_name(rule.action)) + (ingress ? " from " : " to ");
  for (size_t i = 0; i < rule.peers.size(); ++i) out += (i ? " or " : "") + cnp_peer_text(rule.peers[i]);
  out += " on ";
  if (rule.protocols.empty()) return out + "every protocol and port";
  for (size_t i = 0; i < rule.protocols.size(); ++i) out += (i ? ", " : "") + cnp_protocol_text(rule.protocols[i]);
  return out;
}

std::string policy_types_text(const NetworkPolicy& p) {
  std::string out;
  if (p.affects_ingress()) out = "Ingress";
  if (p.affects_egress()) out += out.empty() ? "Egress" : ",Egress";
  return out.empty() ? "-" : out;
}

}  // namespace bpfence::cli
