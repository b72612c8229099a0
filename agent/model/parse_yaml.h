// YAML text to JSON values, one per document: the parser decodes only JSON,
// so YAML and JSON manifests go through the same checks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bpfence::parse_detail {

struct YamlDocument {
  nlohmann::json value;  // null for an empty document; partial when `error` is set
  // Set when the document could not be read: a syntax error (with its line)
  // or a structure JSON cannot hold (a duplicate key, a list as a key).
  std::string error;
  std::string error_field;  // where, for structure errors ("spec.ingress[0]")
};

// Splits on `---` / `...` lines and reads each document on its own, so one
// malformed document does not hide the others. Plain scalars that look like
// numbers, booleans or null become those; quoted scalars stay strings.
// Never throws.
std::vector<YamlDocument> read_yaml_documents(std::string_view text);

}  // namespace bpfence::parse_detail
