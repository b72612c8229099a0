// The flow filter (`--match`) and the JSON form of flow entries, shared by
// the agent's /v1/flows and the CLI.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "bpfence/agent_api.h"
#include "bpfence/reasons.h"

namespace bpfence {
namespace {

IpAddress addr_of(const __u8 (&bytes)[16]) {
  IpAddress a;
  std::copy(bytes, bytes + 16, a.bytes.begin());
  return a;
}

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status parse_term(std::string_view t, FlowMatch::Term* term) {
  std::string l = lower(t);
  if (auto proto = parse_ip_proto(l); proto && !std::isdigit(static_cast<unsigned char>(l[0]))) {
    term->proto = proto;
    return Status::ok();
  }
  if (l == "drop" || l == "d") {
    term->action = BF_ACT_DROP;
    return Status::ok();
  }
  if (l == "forward" || l == "f") {
    term->action = BF_ACT_FORWARD;
    return Status::ok();
  }
  if (l == "ingress" || l == "egress") {
    term->direction = l == "ingress" ? BF_DIR_INGRESS : BF_DIR_EGRESS;
    return Status::ok();
  }
  // D(FwPolicy) or a bare reason name.
  if (t.size() > 3 && (t[0] == 'D' || t[0] == 'd') && t[1] == '(' && t.back() == ')') {
    auto r = bf_reason_from_name(t.substr(2, t.size() - 3));
    if (!r) return Status::error("match term \"" + std::string(t) + "\": unknown drop reason");
    term->action = BF_ACT_DROP;
    term->reason = r;
    return Status::ok();
  }
  if (auto r = bf_reason_from_name(t)) {
    term->reason = r;
    return Status::ok();
  }
  if (auto port = parse_port(t)) {
    term->port = port;
    return Status::ok();
  }
  if (t[0] == ':') {
    term->port = parse_port(t.substr(1));
    if (!term->port) return Status::error("match term \"" + std::string(t) + "\": bad port");
    return Status::ok();
  }
  // [v6]:port, v4:port, v6, v4, prefix
  std::string_view host = t;
  if (t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string_view::npos) return Status::error("match term \"" + std::string(t) + "\": missing ]");
    host = t.substr(1, close - 1);
    std::string_view rest = t.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || !(term->port = parse_port(rest.substr(1))))
        return Status::error("match term \"" + std::string(t) + "\": bad port");
    }
  } else if (std::count(t.begin(), t.end(), ':') == 1) {
    size_t colon = t.find(':');
    host = t.substr(0, colon);
    if (!(term->port = parse_port(t.substr(colon + 1))))
      return Status::error("match term \"" + std::string(t) + "\": bad port");
  }
  if (host.find('/') != std::string_view::npos) {
    std::string err;
    auto p = Prefix::parse(host, &err);
    if (!p) return Status::error("match term \"" + std::string(t) + "\": " + err);
    term->prefix = p;
    return Status::ok();
  }
  auto ip = IpAddress::parse(host);
  if (!ip)
    return Status::error("match term \"" + std::string(t) +
                         "\": not an address, prefix, port, protocol, action or reason");
  term->prefix = Prefix{*ip, 128};
  return Status::ok();
}

bool term_matches(const FlowMatch::Term& t, const bf_flow_key& k, const bf_flow_value& v) {
  if (t.proto && k.proto != *t.proto) return false;
  if (t.action && v.action != *t.action) return false;
  if (t.reason && v.reason != *t.reason) return false;
  if (t.direction && k.direction != *t.direction) return false;
  if (!t.prefix && !t.port) return true;
  auto side = [&](const __u8 (&addr)[16], __be16 port) {
    if (t.prefix && !t.prefix->contains(addr_of(addr))) return false;
    if (t.port && ntohs(port) != *t.port) return false;
    return true;
  };
  return side(k.src, k.sport) || side(k.dst, k.dport);
}

}  // namespace

std::string tcp_flags_text(uint8_t flags) {
  static const char names[] = "FSRPAU";
  std::string out;
  for (int i = 0; i < 6; ++i)
    if (flags & (1u << i)) out += names[i];
  return out;
}

Status FlowMatch::parse(std::string_view text, FlowMatch* out) {
  FlowMatch m;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '\t') ++j;
    if (j > i) {
      Term t;
      if (Status s = parse_term(text.substr(i, j - i), &t); !s) return s;
      m.terms.push_back(t);
    }
    i = j;
  }
  *out = std::move(m);
  return Status::ok();
}

bool FlowMatch::matches(const bf_flow_key& key, const bf_flow_value& value) const {
  return std::all_of(terms.begin(), terms.end(), [&](const Term& t) { return term_matches(t, key, value); });
}

nlohmann::json cluster_rule_ref_json(const CnpRuleRef& r) {
  return {{"cluster_policy", r.policy},
          {"tier", cnp_tier_name(r.tier)},
          {"priority", r.priority},
          {"direction", bf_direction_name(r.direction)},
          {"index", r.index},
          {"name", r.rule_name},
          {"action", cnp_action_name(r.action)},
          {"text", r.str()}};
}

nlohmann::json flow_to_json(const FlowRecord& f, const FlowNames& names) {
  const bf_flow_key& k = f.key;
  const bf_flow_value& v = f.value;
  nlohmann::json j;
  j["src"] = addr_of(k.src).str();
  j["sport"] = ntohs(k.sport);
  j["dst"] = addr_of(k.dst).str();
  j["dport"] = ntohs(k.dport);
  j["proto"] = ip_proto_name(k.proto);
  j["direction"] = bf_direction_name(k.direction);
  j["endpoint_id"] = k.endpoint_id;
  j["pod"] = names.pod ? names.pod(k.endpoint_id) : "";
  j["ifindex"] = v.ifindex;
  j["action"] = bf_action_name(v.action);
  j["reason"] = bf_reason_name(v.reason);
  j["verdict"] = bf_verdict_short(v.action, v.reason);
  j["rule_id"] = v.rule_id;
  j["rule"] = v.rule_id && names.rule ? names.rule(v.rule_id) : "";
  j["packets"] = v.packets;
  j["bytes"] = v.bytes;
  j["tcp_flags"] = k.proto == 6 ? tcp_flags_text(v.tcp_flags) : "";
  j["reply"] = (v.flags & BF_FLOW_REPLY) != 0;
  j["generation"] = v.generation;
  j["first_seen_ns"] = v.first_seen_ns;
  j["last_seen_ns"] = v.last_seen_ns;
  return j;
}

}  // namespace bpfence
