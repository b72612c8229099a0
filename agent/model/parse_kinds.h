// Decoding and validating the four kinds bpfence reads, from JSON. Each
// decoder reports every problem it finds into the Reader; the caller keeps
// the object only when the Reader holds no error.
#pragma once

#include <string>

#include "bpfence/model.h"
#include "parse_reader.h"

namespace bpfence::parse_detail {

// Fields every object has at the top level (apiVersion, kind, metadata,
// spec, status): strict mode reports others.
void check_top_level(Reader& r, const json& obj);

struct Meta {
  std::string name;
  std::string namespace_;
  Labels labels;
  std::string resource_version;
};

enum class NameRule { Dns1123Subdomain, Dns1123Label };

// metadata: name (required), namespace (defaulted when `namespaced`),
// labels, resourceVersion.
Meta decode_metadata(Reader& r, const json& obj, bool namespaced, NameRule rule, const std::string& default_namespace);

// metav1.LabelSelector: matchLabels and matchExpressions, validated.
LabelSelector decode_selector(Reader& r, const json* v, const std::string& path);

// Reads an IP address or CIDR string as the API server's validation would.
std::optional<IpAddress> decode_ip(Reader& r, const json* v, const std::string& path);
// A CIDR as written ("10.0.0.0/16", "fd00::/64"), as ipBlock.cidr is checked.
std::optional<Prefix> decode_cidr_text(Reader& r, const std::string& text, const std::string& path);

Namespace decode_namespace(Reader& r, const json& obj);
Pod decode_pod(Reader& r, const json& obj, const std::string& default_namespace);
NetworkPolicy decode_network_policy(Reader& r, const json& obj, const std::string& default_namespace);
ClusterNetworkPolicy decode_cluster_network_policy(Reader& r, const json& obj);

}  // namespace bpfence::parse_detail
