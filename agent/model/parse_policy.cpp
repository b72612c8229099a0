// NetworkPolicy (networking.k8s.io/v1): every field, validated as
// k8s.io/kubernetes/pkg/apis/networking/validation does, so a policy the API
// server would refuse is refused here too, with the same field path.
#include "parse_kinds.h"
#include "parse_validate.h"

namespace bpfence::parse_detail {

std::optional<Prefix> decode_cidr_text(Reader& r, const std::string& text, const std::string& path) {
  std::string why;
  auto prefix = Prefix::parse(text, &why);
  if (!prefix) {
    r.error(path, "invalid CIDR " + quote(text) + ": " + why);
    return std::nullopt;
  }
  // Written as IPv6 but landing in the IPv4-mapped range: the datapath would
  // treat it as an IPv4 prefix. Kubernetes' strict validation refuses it too.
  if (text.find(':') != std::string::npos && prefix->len >= 96 && prefix->addr.is_v4()) {
    r.error(path, "invalid CIDR " + quote(text) + ": IPv4-mapped IPv6 prefixes are not supported, write the IPv4 form");
    return std::nullopt;
  }
  return prefix;
}

namespace {

std::optional<Prefix> decode_cidr(Reader& r, const json* v, const std::string& path, bool* v6) {
  auto text = r.string(v, path);
  if (!text) {
    if (!v) r.error(path, "missing: an ipBlock needs a cidr such as 10.0.0.0/16");
    return std::nullopt;
  }
  *v6 = text->find(':') != std::string::npos;
  return decode_cidr_text(r, *text, path);
}

IpBlock decode_ip_block(Reader& r, const json* obj, const std::string& path) {
  IpBlock block;
  r.known_fields(obj, path, {"cidr", "except"});
  std::string cidr_path = child(path, "cidr");
  const json* cidr_value = Reader::member(obj, "cidr");
  if (cidr_value && cidr_value->is_string() && cidr_value->get_ref<const std::string&>().empty()) cidr_value = nullptr;
  bool cidr_v6 = false;
  auto cidr = decode_cidr(r, cidr_value, cidr_path, &cidr_v6);
  if (cidr) block.cidr = *cidr;

  std::string except_path = child(path, "except");
  const json* list = r.array(Reader::member(obj, "except"), except_path);
  for (size_t i = 0; list && i < list->size(); ++i) {
    std::string at = index(except_path, i);
    const json* item = &(*list)[i];
    if (item->is_null() || (item->is_string() && item->get_ref<const std::string&>().empty())) {
      r.error(at, "missing: an except entry is a CIDR such as 10.0.1.0/24");
      continue;
    }
    bool v6 = false;
    auto except = decode_cidr(r, item, at, &v6);
    if (!except) continue;
    const std::string& text = item->get_ref<const std::string&>();
    if (cidr && v6 != cidr_v6)
      r.error(at, quote(text) + " must be a strict subset of `cidr`, but it is " + (v6 ? "IPv6" : "IPv4") +
                      " and `cidr` (" + cidr->str() + ") is " + (cidr_v6 ? "IPv6" : "IPv4"));
    else if (cidr && (except->len <= cidr->len || !cidr->contains(*except)))
      r.error(at, quote(text) + " must be a strict subset of `cidr` (" + cidr->str() + "): inside it, with a longer prefix");
    block.except.push_back(*except);
  }
  return block;
}

PolicyPeer decode_peer(Reader& r, const json* obj, const std::string& path) {
  PolicyPeer peer;
  r.known_fields(obj, path, {"podSelector", "namespaceSelector", "ipBlock"});
  // A selector set to null is unset, as Go decodes a nil pointer.
  if (const json* v = Reader::member(obj, "podSelector"))
    peer.pod_selector = decode_selector(r, v, child(path, "podSelector"));
  if (const json* v = Reader::member(obj, "namespaceSelector"))
    peer.namespace_selector = decode_selector(r, v, child(path, "namespaceSelector"));
  if (const json* v = r.object(Reader::member(obj, "ipBlock"), child(path, "ipBlock")))
    peer.ip_block = decode_ip_block(r, v, child(path, "ipBlock"));

  bool selector = peer.pod_selector || peer.namespace_selector;
  if (!selector && !peer.ip_block && !Reader::member(obj, "ipBlock"))
    r.error(path, "must specify a peer: podSelector, namespaceSelector and/or ipBlock (for every peer, leave out "
                  "the whole `from`/`to` list)");
  else if (selector && peer.ip_block)
    r.error(path, "may not specify both ipBlock and another peer (write them as two entries)");
  return peer;
}

PolicyPort decode_port(Reader& r, const json* obj, const std::string& path) {
  PolicyPort port;
  r.known_fields(obj, path, {"protocol", "port", "endPort"});
  if (auto proto = r.string(Reader::member(obj, "protocol"), child(path, "protocol"))) {
    port.protocol = parse_protocol(*proto);
    if (!port.protocol)
      r.error(child(path, "protocol"), "unsupported protocol " + quote(*proto) + ": must be TCP, UDP or SCTP");
  }

  // IntOrString: a JSON number is a port, a string a port name.
  std::string port_path = child(path, "port");
  const json* value = Reader::member(obj, "port");
  std::optional<int64_t> number;
  if (!value) {
  } else if (value->is_string()) {
    port.port_name = value->get<std::string>();
    if (auto why = check_port_name(port.port_name); !why.empty()) {
      bool digits = !port.port_name.empty() && port.port_name.find_first_not_of("0123456789") == std::string::npos;
      r.error(port_path, "invalid port name " + quote(port.port_name) + ": " + why +
                             (digits ? " (for a port number, leave out the quotes)" : ""));
    }
  } else if (value->is_number()) {
    number = r.integer(value, port_path);
    if (number) {
      if (auto why = check_port_number(*number); !why.empty()) r.error(port_path, std::to_string(*number) + ": " + why);
      else port.port = static_cast<uint16_t>(*number);
    }
  } else {
    r.error(port_path, std::string("must be a port number or a port name, found ") + type_name(*value));
  }

  std::string end_path = child(path, "endPort");
  if (auto end = r.integer(Reader::member(obj, "endPort"), end_path)) {
    if (!value) {
      r.error(end_path, "may not be specified when `port` is not specified");
    } else if (value->is_string()) {
      r.error(end_path, "may not be specified when `port` is non-numeric");
    } else if (number) {
      bool ok = true;
      if (auto why = check_port_number(*end); !why.empty()) {
        r.error(end_path, std::to_string(*end) + ": " + why);
        ok = false;
      }
      if (*end < *number) {
        r.error(end_path, std::to_string(*end) + ": must be greater than or equal to `port` (" +
                              std::to_string(*number) + ")");
        ok = false;
      }
      if (ok) port.end_port = static_cast<uint16_t>(*end);
    }
  }
  return port;
}

std::vector<PolicyRule> decode_rules(Reader& r, const json* spec, const char* direction, const char* peers_key) {
  std::vector<PolicyRule> rules;
  const json* list = r.array(Reader::member(spec, direction), child("spec", direction));
  for (size_t i = 0; list && i < list->size(); ++i) {
    std::string at = index(child("spec", direction), i);
    const json* rule_obj = &(*list)[i];
    // `- ` with nothing (null) is an empty rule, as in Go: it matches everything.
    if (!rule_obj->is_null() && !r.object(rule_obj, at)) continue;
    r.known_fields(rule_obj, at, {peers_key, "ports"});
    PolicyRule rule;

    std::string peers_path = child(at, peers_key);
    const json* peers = r.array(Reader::member(rule_obj, peers_key), peers_path);
    for (size_t j = 0; peers && j < peers->size(); ++j) {
      std::string peer_at = index(peers_path, j);
      const json* p = &(*peers)[j];
      if (!p->is_null() && !r.object(p, peer_at)) continue;
      rule.peers.push_back(decode_peer(r, p, peer_at));
    }

    std::string ports_path = child(at, "ports");
    const json* ports = r.array(Reader::member(rule_obj, "ports"), ports_path);
    for (size_t j = 0; ports && j < ports->size(); ++j) {
      std::string port_at = index(ports_path, j);
      const json* p = &(*ports)[j];
      if (!p->is_null() && !r.object(p, port_at)) continue;
      rule.ports.push_back(decode_port(r, p, port_at));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

NetworkPolicy decode_network_policy(Reader& r, const json& obj, const std::string& default_namespace) {
  check_top_level(r, obj);
  Meta m = decode_metadata(r, obj, /*namespaced=*/true, NameRule::Dns1123Subdomain, default_namespace);
  NetworkPolicy np;
  np.name = m.name;
  np.namespace_ = m.namespace_;
  np.resource_version = m.resource_version;

  const json* spec = r.object(Reader::member(&obj, "spec"), "spec");
  r.known_fields(spec, "spec", {"podSelector", "policyTypes", "ingress", "egress"});
  np.pod_selector = decode_selector(r, Reader::member(spec, "podSelector"), "spec.podSelector");

  np.policy_types = r.strings(Reader::member(spec, "policyTypes"), "spec.policyTypes");
  if (np.policy_types.size() > 2) {
    r.error("spec.policyTypes", "may not specify more than two policyTypes");
  } else {
    for (size_t i = 0; i < np.policy_types.size(); ++i)
      if (np.policy_types[i] != "Ingress" && np.policy_types[i] != "Egress")
        r.error(index("spec.policyTypes", i),
                "unsupported policy type " + quote(np.policy_types[i]) + ": must be Ingress or Egress");
  }

  np.ingress = decode_rules(r, spec, "ingress", "from");
  np.egress = decode_rules(r, spec, "egress", "to");
  np.egress_present = spec && spec->contains("egress");
  return np;
}

}  // namespace bpfence::parse_detail
