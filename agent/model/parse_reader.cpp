// Typed, error-collecting access to JSON fields (see parse_reader.h).
#include "parse_reader.h"

#include <cmath>
#include <limits>

namespace bpfence::parse_detail {

std::string child(std::string_view path, std::string_view name) {
  std::string s(path);
  if (!s.empty()) s += '.';
  s += name;
  return s;
}

std::string index(std::string_view path, size_t i) { return std::string(path) + "[" + std::to_string(i) + "]"; }

std::string printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (char c : s.substr(0, kMax)) out += (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) ? '?' : c;
  if (s.size() > kMax) out += "...";
  return out;
}

std::string keyed(std::string_view path, std::string_view key) { return std::string(path) + "[" + printable(key) + "]"; }

std::string quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  for (char c : s.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "a mapping";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a decimal number";
    default: return "a binary value";
  }
}

const json* Reader::member(const json* obj, std::string_view name) {
  if (!obj || !obj->is_object()) return nullptr;
  auto it = obj->find(name);
  if (it == obj->end() || it->is_null()) return nullptr;
  return &*it;
}

bool Reader::type_error(const json& v, const std::string& path, const char* want) {
  error(path, std::string("must be ") + want + ", found " + type_name(v));
  return false;
}

const json* Reader::object(const json* v, const std::string& path) {
  if (!v || v->is_null()) return nullptr;
  if (!v->is_object()) return type_error(*v, path, "a mapping"), nullptr;
  return v;
}

const json* Reader::array(const json* v, const std::string& path) {
  if (!v || v->is_null()) return nullptr;
  if (!v->is_array()) return type_error(*v, path, "a list"), nullptr;
  return v;
}

std::optional<std::string> Reader::string(const json* v, const std::string& path) {
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) return type_error(*v, path, "a string (quote it)"), std::nullopt;
  return v->get<std::string>();
}

std::optional<bool> Reader::boolean(const json* v, const std::string& path) {
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_boolean()) return type_error(*v, path, "true or false"), std::nullopt;
  return v->get<bool>();
}

std::optional<int64_t> Reader::integer(const json* v, const std::string& path) {
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  if (v->is_number_unsigned()) {
    auto u = v->get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(u);
  }
  if (v->is_number_float()) {
    // Integers too large for 64 bits arrive as floats from JSON parsers.
    double d = v->get<double>();
    if (std::isfinite(d) && std::fabs(d) >= 9.2e18 && std::trunc(d) == d)
      return d > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return type_error(*v, path, "an integer"), std::nullopt;
}

std::vector<std::string> Reader::strings(const json* v, const std::string& path) {
  std::vector<std::string> out;
  const json* list = array(v, path);
  if (!list) return out;
  for (size_t i = 0; i < list->size(); ++i) out.push_back(string(&(*list)[i], index(path, i)).value_or(""));
  return out;
}

Labels Reader::string_map(const json* v, const std::string& path) {
  Labels out;
  const json* map = object(v, path);
  if (!map) return out;
  for (auto it = map->begin(); it != map->end(); ++it)
    out[it.key()] = string(&it.value(), keyed(path, it.key())).value_or("");
  return out;
}

void Reader::known_fields(const json* obj, const std::string& path, std::initializer_list<std::string_view> known) {
  if (!strict_ || !obj || !obj->is_object()) return;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    bool found = false;
    for (auto k : known) found |= it.key() == k;
    if (found) continue;
    std::string list;
    for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    error(child(path, it.key().empty() ? "\"\"" : printable(it.key())), "unknown field (known here: " + list + ")");
  }
}

}  // namespace bpfence::parse_detail
