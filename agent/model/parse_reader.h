// Reading typed fields out of a JSON object while collecting field errors,
// with Go's encoding/json rules (what the API server applies): a missing
// field and `null` both mean "unset"; a value of the wrong type is an error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/model.h"

namespace bpfence::parse_detail {

using nlohmann::json;

struct FieldError {
  std::string field;
  std::string message;
};

// Field paths as the API server prints them: spec.ingress[0].ports[1].port,
// metadata.labels[app].
std::string child(std::string_view path, std::string_view name);
std::string index(std::string_view path, size_t i);
std::string keyed(std::string_view path, std::string_view key);

// Untrusted text for a field path: anything but printable ASCII replaced
// (messages end up in JSON, which needs valid UTF-8), cut short.
std::string printable(std::string_view s);
// `"value"` for messages: escaped to printable ASCII, and cut short when long.
std::string quote(std::string_view s);
// "a string", "a list"... for type errors.
const char* type_name(const json& v);

class Reader {
 public:
  // strict: report fields this schema does not know (manifest files, where
  // a misspelt `podSelector` would otherwise silently widen a policy).
  explicit Reader(bool strict) : strict_(strict) {}

  void error(std::string field, std::string message) { errors_.push_back({std::move(field), std::move(message)}); }
  bool ok() const { return errors_.empty(); }
  std::vector<FieldError>& errors() { return errors_; }

  // `obj[name]`, or nullptr when `obj` is not an object, or the member is
  // missing or null.
  static const json* member(const json* obj, std::string_view name);

  // Each returns nullptr / nullopt for an unset value without an error, and
  // reports an error for a value of another type.
  const json* object(const json* v, const std::string& path);
  const json* array(const json* v, const std::string& path);
  std::optional<std::string> string(const json* v, const std::string& path);
  std::optional<bool> boolean(const json* v, const std::string& path);
  // Integers only (80, not 80.5 or "80"); values beyond 64 bits saturate, so
  // range checks reject them.
  std::optional<int64_t> integer(const json* v, const std::string& path);

  // A list of strings (null items read as "", as in Go).
  std::vector<std::string> strings(const json* v, const std::string& path);
  // A map of strings: labels, matchLabels.
  Labels string_map(const json* v, const std::string& path);

  // In strict mode, reports every member of `obj` not named in `known`.
  void known_fields(const json* obj, const std::string& path, std::initializer_list<std::string_view> known);

 private:
  bool type_error(const json& v, const std::string& path, const char* want);

  bool strict_;
  std::vector<FieldError> errors_;
};

}  // namespace bpfence::parse_detail
