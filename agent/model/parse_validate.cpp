// Kubernetes name, label and port checks, as IsDNS1123Subdomain,
// IsQualifiedName, IsValidLabelValue and IsValidPortName define them. Plain
// loops rather than std::regex: the inputs are untrusted and may be long.
#include "parse_validate.h"

namespace bpfence::parse_detail {
namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])? repeated with '.' between.
bool is_subdomain_syntax(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || !lower_alnum(part.front()) || !lower_alnum(part.back())) return false;
    for (char c : part)
      if (!lower_alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool is_qualified_name_part(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

constexpr const char* kNamePartRule =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName', 'my.name' or '123-abc')";

}  // namespace

std::string check_dns1123_subdomain(std::string_view s) {
  if (s.size() > 253) return "must be no more than 253 characters";
  if (!is_subdomain_syntax(s))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
           "must start and end with an alphanumeric character (e.g. 'example.com')";
  return "";
}

std::string check_dns1123_label(std::string_view s) {
  if (s.size() > 63) return "must be no more than 63 characters";
  if (s.find('.') != std::string_view::npos || !is_subdomain_syntax(s))
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
           "and end with an alphanumeric character (e.g. 'my-name' or '123-abc')";
  return "";
}

std::string check_label_key(std::string_view s) {
  std::string_view name = s;
  auto slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (name.find('/') != std::string_view::npos)
      return "a label key is a name with an optional DNS subdomain prefix and one '/' (e.g. 'example.com/MyName')";
    if (prefix.empty()) return "prefix part must be non-empty";
    if (auto why = check_dns1123_subdomain(prefix); !why.empty()) return "prefix part: " + why;
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!is_qualified_name_part(name)) return std::string("name part ") + kNamePartRule;
  return "";
}

std::string check_label_value(std::string_view s) {
  if (s.size() > 63) return "must be no more than 63 characters";
  if (!s.empty() && !is_qualified_name_part(s))
    return std::string("a valid label value must be empty or ") + kNamePartRule;
  return "";
}

std::string check_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15) return "a port name must be 1 to 15 characters (IANA_SVC_NAME)";
  bool letter = false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return "a port name must contain only lower case a-z, 0-9 and '-'";
    letter |= c >= 'a' && c <= 'z';
  }
  if (s.front() == '-' || s.back() == '-') return "a port name must not begin or end with '-'";
  if (s.find("--") != std::string_view::npos) return "a port name must not contain consecutive '-'";
  if (!letter) return "a port name must contain at least one letter (a-z)";
  return "";
}

std::string check_port_number(int64_t n) {
  if (n < 1 || n > 65535) return "must be between 1 and 65535, inclusive";
  return "";
}

}  // namespace bpfence::parse_detail
