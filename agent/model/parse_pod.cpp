// Namespace and Pod (v1): only the fields policy depends on are read, and
// validated as the API server would.
#include <algorithm>

#include "parse_kinds.h"
#include "parse_validate.h"

namespace bpfence::parse_detail {

Namespace decode_namespace(Reader& r, const json& obj) {
  check_top_level(r, obj);
  Meta m = decode_metadata(r, obj, /*namespaced=*/false, NameRule::Dns1123Label, "");
  Namespace ns;
  ns.name = m.name;
  ns.labels = std::move(m.labels);
  ns.resource_version = m.resource_version;
  // The API server sets this label on every namespace (and overwrites any
  // other value); manifests do not carry it, so add it the same way.
  if (!ns.name.empty()) ns.labels["kubernetes.io/metadata.name"] = ns.name;
  return ns;
}

static void decode_container_ports(Reader& r, const json* container, const std::string& path, Pod& pod) {
  std::string ports_path = child(path, "ports");
  const json* ports = r.array(Reader::member(container, "ports"), ports_path);
  for (size_t i = 0; ports && i < ports->size(); ++i) {
    std::string at = index(ports_path, i);
    const json* p = &(*ports)[i];
    if (!p->is_null() && !r.object(p, at)) continue;
    ContainerPort cp;
    auto number = r.integer(Reader::member(p, "containerPort"), child(at, "containerPort"));
    if (!Reader::member(p, "containerPort")) {
      r.error(child(at, "containerPort"), "missing");
    } else if (number) {
      if (auto why = check_port_number(*number); !why.empty())
        r.error(child(at, "containerPort"), std::to_string(*number) + ": " + why);
      else
        cp.port = static_cast<uint16_t>(*number);
    }
    cp.name = r.string(Reader::member(p, "name"), child(at, "name")).value_or("");
    if (!cp.name.empty())
      if (auto why = check_port_name(cp.name); !why.empty())
        r.error(child(at, "name"), "invalid port name " + quote(cp.name) + ": " + why);
    if (auto proto = r.string(Reader::member(p, "protocol"), child(at, "protocol"))) {
      if (auto parsed = parse_protocol(*proto)) cp.protocol = *parsed;
      else r.error(child(at, "protocol"), "unsupported protocol " + quote(*proto) + ": must be TCP, UDP or SCTP");
    }
    pod.ports.push_back(cp);
  }
}

static void decode_pod_ips(Reader& r, const json* status, Pod& pod) {
  auto pod_ip = decode_ip(r, Reader::member(status, "podIP"), "status.podIP");
  const json* list = r.array(Reader::member(status, "podIPs"), "status.podIPs");
  bool listed = false;
  for (size_t i = 0; list && i < list->size(); ++i) {
    std::string at = index("status.podIPs", i);
    const json* item = &(*list)[i];
    if (!item->is_null() && !r.object(item, at)) continue;
    listed = true;
    auto ip = decode_ip(r, Reader::member(item, "ip"), child(at, "ip"));
    if (!ip) {
      const json* text = Reader::member(item, "ip");
      if (!text || (text->is_string() && text->get_ref<const std::string&>().empty()))
        r.error(child(at, "ip"), "missing");
      continue;
    }
    if (i == 0 && pod_ip && *ip != *pod_ip)
      r.error(child(at, "ip"), "must match status.podIP (" + pod_ip->str() + ")");
    for (const auto& seen : pod.ips) {
      if (seen == *ip) r.error(child(at, "ip"), "duplicate IP " + ip->str());
      else if (seen.is_v4() == ip->is_v4())
        r.error(child(at, "ip"), "a pod has at most one IP of each family (IPv4, IPv6)");
    }
    pod.ips.push_back(*ip);
  }
  if (!listed && pod_ip) pod.ips.push_back(*pod_ip);
}

// kAllowedSourcePrefixes: "10.9.0.0/16, fd00:9::/64". Every item must be a
// CIDR: a typo must not silently leave a tunnel pod's traffic dropped (nor
// widen what it may send).
static void decode_source_prefixes(Reader& r, const json& obj, Pod& pod) {
  const json* meta = Reader::member(&obj, "metadata");
  const json* annotations = Reader::member(meta, "annotations");
  if (!annotations || !annotations->is_object()) return;
  const json* value = Reader::member(annotations, kAllowedSourcePrefixes);
  std::string path = keyed("metadata.annotations", kAllowedSourcePrefixes);
  auto text = r.string(value, path);
  if (!text) return;
  size_t start = 0;
  for (size_t i = 0;; ++i) {
    size_t comma = text->find(',', start);
    std::string item = text->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma + 1;
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    std::optional<Prefix> prefix;
    if (item.empty())
      r.error(path, "empty item " + std::to_string(i + 1) + ": write CIDRs separated by commas, e.g. 10.9.0.0/16,fd00:9::/64");
    else
      prefix = decode_cidr_text(r, item, path);
    if (prefix && std::find(pod.allowed_source_prefixes.begin(), pod.allowed_source_prefixes.end(), *prefix) ==
               pod.allowed_source_prefixes.end()) {
      pod.allowed_source_prefixes.push_back(*prefix);
    }
    if (comma == std::string::npos) break;
  }
  std::sort(pod.allowed_source_prefixes.begin(), pod.allowed_source_prefixes.end());
}

Pod decode_pod(Reader& r, const json& obj, const std::string& default_namespace) {
  check_top_level(r, obj);
  Meta m = decode_metadata(r, obj, /*namespaced=*/true, NameRule::Dns1123Subdomain, default_namespace);
  Pod pod;
  pod.name = m.name;
  pod.namespace_ = m.namespace_;
  pod.labels = std::move(m.labels);
  pod.resource_version = m.resource_version;
  decode_source_prefixes(r, obj, pod);

  // The pod spec is large and evolving: only the fields read here are
  // checked, whatever the mode.
  const json* spec = r.object(Reader::member(&obj, "spec"), "spec");
  pod.node_name = r.string(Reader::member(spec, "nodeName"), "spec.nodeName").value_or("");
  if (!pod.node_name.empty())
    if (auto why = check_dns1123_subdomain(pod.node_name); !why.empty())
      r.error("spec.nodeName", "invalid node name " + quote(pod.node_name) + ": " + why);
  pod.host_network = r.boolean(Reader::member(spec, "hostNetwork"), "spec.hostNetwork").value_or(false);

  const json* containers = r.array(Reader::member(spec, "containers"), "spec.containers");
  for (size_t i = 0; containers && i < containers->size(); ++i) {
    std::string at = index("spec.containers", i);
    const json* c = &(*containers)[i];
    if (!c->is_null() && !r.object(c, at)) continue;
    decode_container_ports(r, c, at, pod);
  }

  const json* status = r.object(Reader::member(&obj, "status"), "status");
  decode_pod_ips(r, status, pod);
  return pod;
}

}  // namespace bpfence::parse_detail
