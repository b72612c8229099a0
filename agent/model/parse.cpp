// Entry points of manifest parsing: JSON or YAML text to documents, documents
// (and `kind: List` items) to objects of the kinds bpfence reads. Every
// object is decoded on its own: a bad one becomes ParseErrors and the others
// still load. Exceptions from yaml-cpp and nlohmann stop here.
//
// Manifest files are read strictly (an unknown field in a NetworkPolicy, its
// metadata or any object's top level is an error, as `kubectl apply
// --validate=strict` makes it); objects from the API server (decode_object)
// were already validated there, and fields a newer server adds are ignored.
#include "bpfence/parse.h"

#include <nlohmann/json.hpp>

#include "bpfence/source.h"
#include "parse_kinds.h"
#include "parse_yaml.h"

namespace bpfence {

using parse_detail::json;
using parse_detail::Reader;

std::string ParseError::str() const {
  std::string s;
  for (const std::string* part : {&file, &object, &field}) {
    if (part->empty()) continue;
    s += *part;
    s += ": ";
  }
  return s + message;
}

ObjectKey key_of(const Object& object) {
  return std::visit(
      [](const auto& o) -> ObjectKey {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Namespace>) return {"Namespace", o.name};
        else if constexpr (std::is_same_v<T, Pod>) return {"Pod", o.key()};
        else if constexpr (std::is_same_v<T, ClusterNetworkPolicy>) return {"ClusterNetworkPolicy", o.key()};
        else return {"NetworkPolicy", o.key()};
      },
      object);
}

namespace {

// Lists inside lists are legal but never needed; this bounds recursion.
constexpr int kMaxListDepth = 4;

struct Context {
  const std::string& file;
  const std::string& default_namespace;
  bool strict;
  ParseResult& result;

  // Library messages may quote raw input (nlohmann's "last read: ..."): keep
  // every error printable ASCII, so it can be logged and served as JSON.
  void error(const std::string& object, std::string field, std::string message) {
    result.errors.push_back({file, ascii(object), ascii(field), ascii(message)});
  }

  static std::string ascii(std::string s) {
    for (char& c : s)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    return s;
  }
};

struct KindInfo {
  const char* kind;
  const char* api_version;
  bool namespaced;
};
constexpr KindInfo kKinds[] = {
    {"Namespace", "v1", false},
    {"Pod", "v1", true},
    {"NetworkPolicy", "networking.k8s.io/v1", true},
    {"ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2", false},
};

const KindInfo* find_kind(const std::string& kind) {
  for (const auto& k : kKinds)
    if (kind == k.kind) return &k;
  return nullptr;
}

const std::string* string_member(const json& obj, const char* name) {
  const json* v = Reader::member(&obj, name);
  return v && v->is_string() ? &v->get_ref<const std::string&>() : nullptr;
}

// "NetworkPolicy default/web" when the object has a usable name, else the
// document's label ("document 3").
std::string object_label(const json& obj, const KindInfo& kind, const std::string& fallback,
                         const std::string& default_namespace) {
  const json* meta = Reader::member(&obj, "metadata");
  const std::string* name = meta && meta->is_object() ? string_member(*meta, "name") : nullptr;
  if (!name || name->empty() || name->size() > 253) return fallback;
  for (char c : *name)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) >= 0x7f) return fallback;
  std::string label = std::string(kind.kind) + " ";
  if (kind.namespaced) {
    const std::string* ns = string_member(*meta, "namespace");
    std::string namespace_ = ns && !ns->empty() ? parse_detail::printable(*ns) : default_namespace;
    if (!namespace_.empty()) label += namespace_ + "/";
  }
  return label + *name;
}

void decode_known(const json& obj, const KindInfo& kind, const std::string& label, Context& ctx) {
  Reader r(ctx.strict);
  Object decoded;
  if (kind.kind == std::string_view("Namespace")) decoded = parse_detail::decode_namespace(r, obj);
  else if (kind.kind == std::string_view("Pod")) decoded = parse_detail::decode_pod(r, obj, ctx.default_namespace);
  else if (kind.kind == std::string_view("NetworkPolicy"))
    decoded = parse_detail::decode_network_policy(r, obj, ctx.default_namespace);
  else decoded = parse_detail::decode_cluster_network_policy(r, obj);
  if (r.ok()) {
    ctx.result.objects.push_back(std::move(decoded));
    return;
  }
  for (auto& e : r.errors()) ctx.error(label, std::move(e.field), std::move(e.message));
}

// One JSON value: an object, a list of objects, or an empty document.
// `kind_hint` is the item kind of a typed list (PodList items carry none).
void decode_value(const json& v, const std::string& label, Context& ctx, int list_depth,
                  const std::string& kind_hint, const std::string& api_version_hint) {
  if (v.is_null()) return;
  if (!v.is_object()) {
    ctx.error(label, "", std::string("must be a Kubernetes object (a mapping with apiVersion and kind), found ") +
                             parse_detail::type_name(v));
    return;
  }
  std::string kind = kind_hint, api_version = api_version_hint;
  if (const json* k = Reader::member(&v, "kind")) {
    if (!k->is_string()) return ctx.error(label, "kind", std::string("must be a string, found ") + parse_detail::type_name(*k));
    kind = k->get<std::string>();
  }
  if (const json* a = Reader::member(&v, "apiVersion")) {
    if (!a->is_string())
      return ctx.error(label, "apiVersion", std::string("must be a string, found ") + parse_detail::type_name(*a));
    api_version = a->get<std::string>();
  }
  if (kind.empty()) return ctx.error(label, "kind", "missing: every object needs a kind (Pod, NetworkPolicy...)");

  const KindInfo* known = find_kind(kind);
  bool is_list = kind == "List" || (!known && kind.size() > 4 && kind.ends_with("List") && v.contains("items"));
  if (is_list) {
    if (list_depth >= kMaxListDepth) return ctx.error(label, "items", "lists nested too deeply");
    const json* items = Reader::member(&v, "items");
    if (items && !items->is_array())
      return ctx.error(label, "items", std::string("must be a list, found ") + parse_detail::type_name(*items));
    std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
    for (size_t i = 0; items && i < items->size(); ++i)
      decode_value((*items)[i], parse_detail::index(label + " items", i), ctx, list_depth + 1, item_kind,
                   kind == "List" ? "" : api_version);
    return;
  }
  if (!known) {
    ++ctx.result.ignored;
    return;
  }
  std::string object = object_label(v, *known, label, ctx.default_namespace);
  if (api_version.empty()) return ctx.error(object, "apiVersion", std::string("missing: must be ") + known->api_version);
  if (api_version != known->api_version)
    return ctx.error(object, "apiVersion",
                     "unsupported " + parse_detail::quote(api_version) + " for " + kind + ": must be " +
                         known->api_version);
  decode_known(v, *known, object, ctx);
}

// Nothing escapes: a failure here must not cost the other documents.
void decode_guarded(const json& v, const std::string& label, Context& ctx) {
  try {
    decode_value(v, label, ctx, 0, "", "");
  } catch (const std::exception& e) {
    ctx.error(label, "", std::string("cannot decode: ") + e.what());
  } catch (...) {
    ctx.error(label, "", "cannot decode");
  }
}

// JSON as kubectl and jq write it: `{` then a quoted key (or nothing). YAML
// flow style (`{kind: Pod}`) quotes no keys and goes to the YAML reader.
bool looks_like_json(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (text[first] != '{' && text[first] != '[')) return false;
  auto next = text.find_first_not_of(" \t\r\n", first + 1);
  return next == std::string_view::npos || text[next] == '"' || text[next] == '}' || text[next] == '[' ||
         text[next] == '{' || text[next] == ']';
}

std::string json_error_message(const std::exception& e) {
  // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
  std::string what = e.what();
  auto close = what.find("] ");
  if (what.rfind("[json.exception.", 0) == 0 && close != std::string::npos) what = what.substr(close + 2);
  return "invalid JSON: " + what;
}

}  // namespace

ParseResult parse_manifests(std::string_view text, const std::string& file, const std::string& default_namespace) {
  ParseResult result;
  Context ctx{file, default_namespace, /*strict=*/true, result};
  try {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte order mark

    if (looks_like_json(text)) {
      // Strict JSON: a YAML reading of broken JSON would guess at what it meant.
      json v;
      try {
        v = json::parse(text);
      } catch (const json::exception& e) {
        ctx.error("document 1", "", json_error_message(e));
        return result;
      }
      decode_guarded(v, "document 1", ctx);
      return result;
    }

    auto docs = parse_detail::read_yaml_documents(text);
    for (size_t i = 0; i < docs.size(); ++i) {
      std::string label = "document " + std::to_string(i + 1);
      if (docs[i].error.empty()) {
        decode_guarded(docs[i].value, label, ctx);
        continue;
      }
      // Name the object when enough of it was read.
      std::string object = label;
      const json& v = docs[i].value;
      if (v.is_object())
        if (const std::string* kind = string_member(v, "kind"))
          if (const KindInfo* k = find_kind(*kind)) object = object_label(v, *k, label, default_namespace);
      ctx.error(object, docs[i].error_field, docs[i].error);
    }
  } catch (const std::exception& e) {
    ctx.error("", "", std::string("cannot read: ") + e.what());
  } catch (...) {
    ctx.error("", "", "cannot read");
  }
  return result;
}

ParseResult decode_object(const nlohmann::json& value, const std::string& file, const std::string& default_namespace) {
  ParseResult result;
  Context ctx{file, default_namespace, /*strict=*/false, result};
  decode_guarded(value, "object", ctx);
  return result;
}

}  // namespace bpfence
