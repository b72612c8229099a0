// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2), validated as the
// standard-channel CRD of release v0.2.0 validates it: manifest files reach
// bpfence with no API server in between, so every enum, bound and
// "exactly one member" rule the CRD states is checked here, with the field
// path the API server would print. The experimental `nodes` and
// `domainNames` peers are refused: bpfence does not enforce them, and a
// policy must never be accepted for less than it says.
#include <set>

#include "parse_kinds.h"
#include "parse_validate.h"

namespace bpfence::parse_detail {

namespace {

constexpr size_t kCnpMaxRules = 25;
constexpr size_t kCnpMaxItems = 25;  // peers, protocols, networks
constexpr size_t kCnpMaxRuleName = 100;
constexpr size_t kCnpMaxCidrText = 43;

// The members of `obj` among `members` that are set (non-null).
std::vector<std::string_view> cnp_set_members(const json* obj, std::initializer_list<std::string_view> members) {
  std::vector<std::string_view> out;
  for (auto m : members)
    if (Reader::member(obj, m)) out.push_back(m);
  return out;
}

std::string cnp_join(std::initializer_list<std::string_view> names) {
  std::string s;
  for (auto n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

// Reports unless exactly one member is set; returns the one set, or "".
std::string_view cnp_exactly_one(Reader& r, const json* obj, const std::string& path,
                             std::initializer_list<std::string_view> members) {
  auto set = cnp_set_members(obj, members);
  if (set.size() == 1) return set.front();
  if (set.empty()) r.error(path, "must set exactly one of: " + cnp_join(members));
  else r.error(path, "must set exactly one of: " + cnp_join(members) + "; found " + std::to_string(set.size()));
  return "";
}

// A list with CRD bounds [min, max]: nullptr when unset or wrongly typed.
const json* cnp_bounded_list(Reader& r, const json* parent, const char* key, const std::string& path, size_t min,
                         size_t max, bool required) {
  const json* list = r.array(Reader::member(parent, key), path);
  if (!list) {
    if (required && !Reader::member(parent, key)) r.error(path, "missing: must list 1 to " + std::to_string(max) + " items");
    return nullptr;
  }
  if (list->size() < min || list->size() > max)
    r.error(path, "must list " + std::to_string(min) + " to " + std::to_string(max) + " items, found " +
                      std::to_string(list->size()));
  return list;
}

CnpPods cnp_decode_pods(Reader& r, const json* v, const std::string& path) {
  CnpPods pods;
  const json* obj = r.object(v, path);
  if (!obj) return pods;
  r.known_fields(obj, path, {"namespaceSelector", "podSelector"});
  if (const json* ns = Reader::member(obj, "namespaceSelector"))
    pods.namespace_selector = decode_selector(r, ns, child(path, "namespaceSelector"));
  if (const json* p = Reader::member(obj, "podSelector")) pods.pod_selector = decode_selector(r, p, child(path, "podSelector"));
  else r.error(child(path, "podSelector"), "missing: required ({} selects every pod)");
  return pods;
}

CnpSubject cnp_decode_subject(Reader& r, const json* spec) {
  CnpSubject subject;
  const std::string path = "spec.subject";
  const json* obj = r.object(Reader::member(spec, "subject"), path);
  if (!obj) {
    if (spec && !Reader::member(spec, "subject")) r.error(path, "missing: must set namespaces or pods");
    return subject;
  }
  r.known_fields(obj, path, {"namespaces", "pods"});
  auto which = cnp_exactly_one(r, obj, path, {"namespaces", "pods"});
  if (which == "namespaces") subject.namespaces = decode_selector(r, Reader::member(obj, "namespaces"), child(path, "namespaces"));
  else if (which == "pods") subject.pods = cnp_decode_pods(r, Reader::member(obj, "pods"), child(path, "pods"));
  return subject;
}

std::vector<Prefix> cnp_decode_networks(Reader& r, const json* v, const std::string& path) {
  std::vector<Prefix> out;
  const json* list = r.array(v, path);
  if (!list) return out;
  if (list->empty() || list->size() > kCnpMaxItems)
    r.error(path, "must list 1 to " + std::to_string(kCnpMaxItems) + " CIDRs, found " + std::to_string(list->size()));
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string at = index(path, i);
    auto text = r.string(&(*list)[i], at);
    if (!text) continue;
    if (text->size() > kCnpMaxCidrText) {
      r.error(at, "must be at most 43 characters");
      continue;
    }
    if (!seen.insert(*text).second) {
      r.error(at, "duplicate CIDR " + quote(*text) + ": networks is a set");
      continue;
    }
    if (text->find('/') == std::string::npos) {
      r.error(at, "invalid CIDR " + quote(*text) + ": needs a prefix length, e.g. 10.0.0.0/8");
      continue;
    }
    if (auto prefix = decode_cidr_text(r, *text, at)) out.push_back(*prefix);
  }
  return out;
}

CnpPeer cnp_decode_peer(Reader& r, const json* v, const std::string& path, bool egress) {
  CnpPeer peer;
  const json* obj = r.object(v, path);
  if (!obj) {
    if (!v) r.error(path, "must set exactly one peer member");
    return peer;
  }
  // Known to the CRD in some channel; refused below with a reason rather
  // than as unknown fields.
  r.known_fields(obj, path, {"namespaces", "pods", "networks", "nodes", "domainNames"});
  if (!egress) {
    bool refused = false;
    for (const char* only_egress : {"networks", "nodes", "domainNames"})
      if (Reader::member(obj, only_egress)) {
        r.error(child(path, only_egress), "is an egress peer only: ingress rules match traffic from pods");
        refused = true;
      }
    if (refused) return peer;
  }
  std::string_view which = egress ? cnp_exactly_one(r, obj, path, {"namespaces", "pods", "networks", "nodes", "domainNames"})
                                  : cnp_exactly_one(r, obj, path, {"namespaces", "pods"});
  if (which == "namespaces") {
    peer.namespaces = decode_selector(r, Reader::member(obj, "namespaces"), child(path, "namespaces"));
  } else if (which == "pods") {
    peer.pods = cnp_decode_pods(r, Reader::member(obj, "pods"), child(path, "pods"));
  } else if (which == "networks") {
    peer.networks = cnp_decode_networks(r, Reader::member(obj, "networks"), child(path, "networks"));
  } else if (which == "nodes" || which == "domainNames") {
    r.error(child(path, std::string(which)),
            "not supported: bpfence does not enforce the experimental " + std::string(which) +
                " peer, so it refuses the policy rather than apply part of it");
  }
  return peer;
}

void cnp_decode_port_spec(Reader& r, const json* v, const std::string& path, CnpProtocol* out) {
  const json* obj = r.object(v, path);
  if (!obj) {
    if (!v) r.error(child(path, "destinationPort"), "missing: write a number or a range (1 to 65535 for every port)");
    return;
  }
  r.known_fields(obj, path, {"destinationPort"});
  std::string dp = child(path, "destinationPort");
  const json* port = r.object(Reader::member(obj, "destinationPort"), dp);
  if (!port) {
    if (!Reader::member(obj, "destinationPort"))
      r.error(dp, "missing: write a number or a range (1 to 65535 for every port)");
    return;
  }
  r.known_fields(port, dp, {"number", "range"});
  auto which = cnp_exactly_one(r, port, dp, {"number", "range"});
  if (which == "number") {
    std::string at = child(dp, "number");
    if (auto n = r.integer(Reader::member(port, "number"), at)) {
      if (auto why = check_port_number(*n); !why.empty()) r.error(at, std::to_string(*n) + ": " + why);
      else out->port = out->end_port = static_cast<uint16_t>(*n);
    }
  } else if (which == "range") {
    std::string at = child(dp, "range");
    const json* range = r.object(Reader::member(port, "range"), at);
    if (!range) return;
    r.known_fields(range, at, {"start", "end"});
    std::optional<int64_t> ends[2];
    const char* names[2] = {"start", "end"};
    for (int i = 0; i < 2; ++i) {
      std::string f = child(at, names[i]);
      ends[i] = r.integer(Reader::member(range, names[i]), f);
      if (!ends[i]) {
        if (!Reader::member(range, names[i])) r.error(f, "missing: a range needs start and end");
      } else if (auto why = check_port_number(*ends[i]); !why.empty()) {
        r.error(f, std::to_string(*ends[i]) + ": " + why);
        ends[i].reset();
      }
    }
    if (ends[0] && ends[1]) {
      if (*ends[0] >= *ends[1])
        r.error(at, "start (" + std::to_string(*ends[0]) + ") must be less than end (" + std::to_string(*ends[1]) +
                        "); for one port write number");
      else {
        out->port = static_cast<uint16_t>(*ends[0]);
        out->end_port = static_cast<uint16_t>(*ends[1]);
      }
    }
  }
}

CnpProtocol cnp_decode_protocol(Reader& r, const json* v, const std::string& path) {
  CnpProtocol proto;
  const json* obj = r.object(v, path);
  if (!obj) {
    if (!v) r.error(path, "must set exactly one of: tcp, udp, sctp, destinationNamedPort");
    return proto;
  }
  r.known_fields(obj, path, {"tcp", "udp", "sctp", "destinationNamedPort"});
  auto which = cnp_exactly_one(r, obj, path, {"tcp", "udp", "sctp", "destinationNamedPort"});
  if (which == "destinationNamedPort") {
    std::string at = child(path, "destinationNamedPort");
    proto.named_port = r.string(Reader::member(obj, "destinationNamedPort"), at).value_or("");
    if (auto why = check_port_name(proto.named_port); !why.empty())
      r.error(at, "invalid port name " + quote(proto.named_port) + ": " + why);
  } else if (!which.empty()) {
    proto.protocol = which == "tcp" ? Protocol::TCP : which == "udp" ? Protocol::UDP : Protocol::SCTP;
    cnp_decode_port_spec(r, Reader::member(obj, which), child(path, std::string(which)), &proto);
  }
  return proto;
}

std::vector<CnpRule> cnp_decode_rules(Reader& r, const json* spec, const char* direction, const char* peers_key) {
  std::vector<CnpRule> rules;
  std::string path = child("spec", direction);
  const json* list = cnp_bounded_list(r, spec, direction, path, 0, kCnpMaxRules, false);
  bool egress = std::string_view(direction) == "egress";
  for (size_t i = 0; list && i < list->size(); ++i) {
    std::string at = index(path, i);
    const json* obj = r.object(&(*list)[i], at);
    if (!obj) {
      if ((*list)[i].is_null()) r.error(at, "must be a rule with an action and `" + std::string(peers_key) + "`");
      continue;
    }
    r.known_fields(obj, at, {"name", "action", peers_key, "protocols"});
    CnpRule rule;
    rule.name = r.string(Reader::member(obj, "name"), child(at, "name")).value_or("");
    if (rule.name.size() > kCnpMaxRuleName) r.error(child(at, "name"), "must be at most 100 characters");
    for (char c : rule.name)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        r.error(child(at, "name"), "must be printable ASCII");
        break;
      }
    std::string action_path = child(at, "action");
    auto action = r.string(Reader::member(obj, "action"), action_path);
    if (!action) {
      if (!Reader::member(obj, "action")) r.error(action_path, "missing: must be Accept, Deny or Pass");
    } else if (*action == "Accept") rule.action = CnpAction::Accept;
    else if (*action == "Deny") rule.action = CnpAction::Deny;
    else if (*action == "Pass") rule.action = CnpAction::Pass;
    else
      r.error(action_path, "unsupported action " + quote(*action) + ": must be Accept, Deny or Pass" +
                               (*action == "Allow" ? " (v1alpha1's Allow is Accept in v1alpha2)" : ""));

    std::string peers_path = child(at, peers_key);
    if (const json* peers = cnp_bounded_list(r, obj, peers_key, peers_path, 1, kCnpMaxItems, true))
      for (size_t j = 0; j < peers->size(); ++j) rule.peers.push_back(cnp_decode_peer(r, &(*peers)[j], index(peers_path, j), egress));

    std::string protos_path = child(at, "protocols");
    if (const json* protos = cnp_bounded_list(r, obj, "protocols", protos_path, 1, kCnpMaxItems, false))
      for (size_t j = 0; j < protos->size(); ++j)
        rule.protocols.push_back(cnp_decode_protocol(r, &(*protos)[j], index(protos_path, j)));
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

ClusterNetworkPolicy decode_cluster_network_policy(Reader& r, const json& obj) {
  check_top_level(r, obj);
  Meta m = decode_metadata(r, obj, /*namespaced=*/false, NameRule::Dns1123Subdomain, "");
  if (const json* meta = Reader::member(&obj, "metadata"))
    if (const json* ns = Reader::member(meta, "namespace"); ns && !(ns->is_string() && ns->get_ref<const std::string&>().empty()))
      r.error("metadata.namespace", "must be empty: ClusterNetworkPolicy is cluster-scoped");
  ClusterNetworkPolicy cnp;
  cnp.name = m.name;
  cnp.resource_version = m.resource_version;

  const json* spec = r.object(Reader::member(&obj, "spec"), "spec");
  if (!spec) {
    if (!Reader::member(&obj, "spec")) r.error("spec", "missing: needs tier, priority and subject");
    return cnp;
  }
  r.known_fields(spec, "spec", {"tier", "priority", "subject", "ingress", "egress"});
  auto tier = r.string(Reader::member(spec, "tier"), "spec.tier");
  if (!tier) {
    if (!Reader::member(spec, "tier")) r.error("spec.tier", "missing: must be Admin or Baseline (there is no default)");
  } else if (*tier == "Admin") cnp.tier = CnpTier::Admin;
  else if (*tier == "Baseline") cnp.tier = CnpTier::Baseline;
  else r.error("spec.tier", "unsupported tier " + quote(*tier) + ": must be Admin or Baseline");

  auto priority = r.integer(Reader::member(spec, "priority"), "spec.priority");
  if (!priority) {
    if (!Reader::member(spec, "priority")) r.error("spec.priority", "missing: an integer from 0 to 1000 (there is no default)");
  } else if (*priority < 0 || *priority > 1000) {
    r.error("spec.priority", std::to_string(*priority) + ": must be between 0 and 1000");
  } else {
    cnp.priority = static_cast<int32_t>(*priority);
  }
  cnp.subject = cnp_decode_subject(r, spec);
  cnp.ingress = cnp_decode_rules(r, spec, "ingress", "from");
  cnp.egress = cnp_decode_rules(r, spec, "egress", "to");
  return cnp;
}

}  // namespace bpfence::parse_detail
