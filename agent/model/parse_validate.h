// Name and value checks the Kubernetes API server applies
// (k8s.io/apimachinery/pkg/util/validation), written out for the few kinds
// bpfence reads. Each returns "" when the value is valid, else the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bpfence::parse_detail {

// Object names of pods and policies; also label key prefixes and node names.
std::string check_dns1123_subdomain(std::string_view s);
// Namespace names.
std::string check_dns1123_label(std::string_view s);
// Label keys and selector keys: [prefix/]name.
std::string check_label_key(std::string_view s);
std::string check_label_value(std::string_view s);
// IANA_SVC_NAME: a named port ("http", "dns-tcp").
std::string check_port_name(std::string_view s);
// 1..65535.
std::string check_port_number(int64_t n);

}  // namespace bpfence::parse_detail
