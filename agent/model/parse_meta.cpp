// What every kind shares: top-level fields, metadata, label selectors and IP
// addresses, validated as the API server validates ObjectMeta and
// metav1.LabelSelector.
#include "parse_kinds.h"
#include "parse_validate.h"

namespace bpfence::parse_detail {

void check_top_level(Reader& r, const json& obj) {
  r.known_fields(&obj, "", {"apiVersion", "kind", "metadata", "spec", "status"});
}

static void check_labels(Reader& r, const Labels& labels, const std::string& path) {
  for (const auto& [k, v] : labels) {
    if (auto why = check_label_key(k); !why.empty())
      r.error(keyed(path, k), "invalid label key " + quote(k) + ": " + why);
    if (auto why = check_label_value(v); !why.empty())
      r.error(keyed(path, k), "invalid label value " + quote(v) + ": " + why);
  }
}

Meta decode_metadata(Reader& r, const json& obj, bool namespaced, NameRule rule,
                     const std::string& default_namespace) {
  Meta m;
  const json* meta = r.object(Reader::member(&obj, "metadata"), "metadata");
  if (!meta) {
    if (!Reader::member(&obj, "metadata")) r.error("metadata.name", "missing: every object needs a name");
    return m;
  }
  r.known_fields(meta, "metadata",
                 {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                  "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                  "ownerReferences", "finalizers", "managedFields"});

  m.name = r.string(Reader::member(meta, "name"), "metadata.name").value_or("");
  if (m.name.empty()) {
    if (!Reader::member(meta, "name") || Reader::member(meta, "name")->is_string())
      r.error("metadata.name", Reader::member(meta, "generateName")
                                   ? "missing: generateName is not supported, give the object a fixed name"
                                   : "missing: every object needs a name");
  } else {
    auto why = rule == NameRule::Dns1123Label ? check_dns1123_label(m.name) : check_dns1123_subdomain(m.name);
    if (!why.empty()) r.error("metadata.name", "invalid name " + quote(m.name) + ": " + why);
  }

  if (namespaced) {
    m.namespace_ = r.string(Reader::member(meta, "namespace"), "metadata.namespace").value_or("");
    if (m.namespace_.empty()) m.namespace_ = default_namespace;
    if (m.namespace_.empty()) {
      r.error("metadata.namespace", "missing (and no default namespace given)");
    } else if (auto why = check_dns1123_label(m.namespace_); !why.empty()) {
      r.error("metadata.namespace", "invalid namespace " + quote(m.namespace_) + ": " + why);
    }
  }

  m.labels = r.string_map(Reader::member(meta, "labels"), "metadata.labels");
  check_labels(r, m.labels, "metadata.labels");
  m.resource_version = r.string(Reader::member(meta, "resourceVersion"), "metadata.resourceVersion").value_or("");
  // Opaque, but shown and served as JSON: printable ASCII only.
  for (char c : m.resource_version)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      r.error("metadata.resourceVersion", "must be printable ASCII");
      break;
    }
  return m;
}

LabelSelector decode_selector(Reader& r, const json* v, const std::string& path) {
  LabelSelector sel;
  const json* obj = r.object(v, path);
  if (!obj) return sel;
  r.known_fields(obj, path, {"matchLabels", "matchExpressions"});

  std::string labels_path = child(path, "matchLabels");
  sel.match_labels = r.string_map(Reader::member(obj, "matchLabels"), labels_path);
  check_labels(r, sel.match_labels, labels_path);

  std::string exprs_path = child(path, "matchExpressions");
  const json* exprs = r.array(Reader::member(obj, "matchExpressions"), exprs_path);
  for (size_t i = 0; exprs && i < exprs->size(); ++i) {
    std::string at = index(exprs_path, i);
    const json* e = &(*exprs)[i];
    if (!e->is_null() && !r.object(e, at)) continue;
    r.known_fields(e, at, {"key", "operator", "values"});

    LabelRequirement req;
    req.key = r.string(Reader::member(e, "key"), child(at, "key")).value_or("");
    if (req.key.empty()) r.error(child(at, "key"), "missing: a selector requirement needs a label key");
    else if (auto why = check_label_key(req.key); !why.empty())
      r.error(child(at, "key"), "invalid label key " + quote(req.key) + ": " + why);

    auto op = r.string(Reader::member(e, "operator"), child(at, "operator"));
    req.values = r.strings(Reader::member(e, "values"), child(at, "values"));
    if (op == "In" || op == "NotIn") {
      req.op = op == "In" ? LabelRequirement::Op::In : LabelRequirement::Op::NotIn;
      if (req.values.empty()) r.error(child(at, "values"), "must be specified when `operator` is 'In' or 'NotIn'");
      for (size_t j = 0; j < req.values.size(); ++j)
        if (auto why = check_label_value(req.values[j]); !why.empty())
          r.error(index(child(at, "values"), j), "invalid label value " + quote(req.values[j]) + ": " + why);
    } else if (op == "Exists" || op == "DoesNotExist") {
      req.op = op == "Exists" ? LabelRequirement::Op::Exists : LabelRequirement::Op::DoesNotExist;
      if (!req.values.empty())
        r.error(child(at, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    } else if (!op) {
      if (!Reader::member(e, "operator") || Reader::member(e, "operator")->is_string())
        r.error(child(at, "operator"), "missing: must be In, NotIn, Exists or DoesNotExist");
    } else {
      r.error(child(at, "operator"),
              "not a valid selector operator " + quote(*op) + ": must be In, NotIn, Exists or DoesNotExist");
    }
    sel.match_expressions.push_back(std::move(req));
  }
  return sel;
}

std::optional<IpAddress> decode_ip(Reader& r, const json* v, const std::string& path) {
  auto text = r.string(v, path);
  if (!text || text->empty()) return std::nullopt;
  auto ip = IpAddress::parse(*text);
  if (!ip) {
    r.error(path, "invalid IP address " + quote(*text) + ": must be IPv4 (10.1.2.3) or IPv6 (fd00::3)");
    return std::nullopt;
  }
  // The datapath stores IPv4 in the mapped form: a mapped address written as
  // IPv6 would silently turn into an IPv4 one.
  if (ip->is_v4() && text->find(':') != std::string::npos) {
    r.error(path, "invalid IP address " + quote(*text) + ": IPv4-mapped IPv6 addresses are not supported, write "
                  "the IPv4 form");
    return std::nullopt;
  }
  return ip;
}

}  // namespace bpfence::parse_detail
