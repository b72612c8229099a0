// Parsing and validating Kubernetes objects from JSON and YAML, as kubectl
// writes them: single objects, multi-document YAML and `kind: List`.
//
// Parsing never throws to the caller and never half-applies: every object is
// either returned whole and valid, or rejected with an error that names the
// file, the object (namespace/name) and the field.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bpfence/model.h"

namespace bpfence {

// One rejected object (or a whole document that could not be read).
struct ParseError {
  std::string file;    // "" when not from a file
  std::string object;  // "NetworkPolicy default/web" or "document 2"
  std::string field;   // "spec.ingress[0].from[1].ipBlock.except[0]"
  std::string message;

  // "file: NetworkPolicy default/web: spec.ingress[0]...: message"
  std::string str() const;
};

using Object = std::variant<Namespace, Pod, NetworkPolicy, ClusterNetworkPolicy>;

struct ParseResult {
  std::vector<Object> objects;
  std::vector<ParseError> errors;
  // Kinds bpfence does not use (Deployment, Service...): skipped, counted.
  int ignored = 0;
};

// Parses text that holds JSON or (multi-document) YAML. `file` is only used
// in error messages. An object without metadata.namespace gets
// `default_namespace`, as `kubectl apply` would. Strict about unknown
// fields in NetworkPolicies, in metadata and at any object's top level (as
// `kubectl apply --validate=strict`): a misspelt key must not widen a policy.
ParseResult parse_manifests(std::string_view text, const std::string& file = "",
                            const std::string& default_namespace = "default");

// Decodes one JSON value: an object of a known kind, a `kind: List`, or an
// object of another kind (ignored). The API client uses it for list items
// and watch events; parse_manifests() for every document it reads.
// Unlike parse_manifests(), it ignores unknown fields (the API server has
// validated the object; a newer server may add fields); values are checked.
ParseResult decode_object(const nlohmann::json& value, const std::string& file = "",
                          const std::string& default_namespace = "default");

}  // namespace bpfence
