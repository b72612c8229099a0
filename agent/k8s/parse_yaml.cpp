// YAML documents to nlohmann::json. yaml-cpp reads the syntax; this file
// decides what each scalar means (YAML 1.2 core schema: `80` is a number,
// `"80"` a string) and guards against inputs that would make the conversion
// explode (alias bombs, deep nesting).
#include "parse_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

// GCC 12 reports false dangling-pointer warnings inside yaml-cpp's inline
// node code, instantiated from here.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

namespace bpfence::parse_detail {
namespace {

using nlohmann::json;

// Kubernetes objects nest a dozen levels; this only stops pathological input.
constexpr int kMaxDepth = 100;

bool starts_marker(std::string_view line, std::string_view marker) {
  if (line.substr(0, 3) != marker) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r' || line[3] == '\n';
}

// A chunk that holds no document of its own: blank lines, comments and
// directives before the first `---`.
bool only_preamble(std::string_view chunk) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    size_t eol = chunk.find('\n', pos);
    std::string_view line = chunk.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#' && !(first == 0 && line[0] == '%')) return false;
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return true;
}

struct Chunk {
  std::string_view text;
  int first_line = 0;  // 0-based line of the chunk in the whole text
};

// Document markers at column 0 cannot occur inside any YAML content (the
// spec forbids them even in quoted and block scalars), so splitting on lines
// is exact.
std::vector<Chunk> split_documents(std::string_view text) {
  std::vector<Chunk> chunks;
  size_t start = 0, pos = 0;
  int line_no = 0, start_line = 0;
  auto emit = [&](size_t end) {
    if (end > start) chunks.push_back({text.substr(start, end - start), start_line});
  };
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
    std::string_view line = text.substr(pos, next - pos);
    if (starts_marker(line, "---")) {
      emit(pos);
      start = pos;
      start_line = line_no;
    } else if (starts_marker(line, "...")) {
      emit(next);
      start = next;
      start_line = line_no + 1;
    }
    pos = next;
    ++line_no;
  }
  emit(text.size());

  // Fold preambles into the document that follows them.
  std::vector<Chunk> docs;
  for (size_t i = 0; i < chunks.size(); ++i) {
    bool marked = starts_marker(chunks[i].text, "---");
    if (!marked && only_preamble(chunks[i].text)) {
      if (i + 1 < chunks.size()) {
        const char* begin = chunks[i].text.data();
        chunks[i + 1].text = std::string_view(begin, chunks[i + 1].text.data() + chunks[i + 1].text.size() - begin);
        chunks[i + 1].first_line = chunks[i].first_line;
      }
      continue;
    }
    docs.push_back(chunks[i]);
  }
  return docs;
}

bool all_digits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c < static_cast<char>('0' + base));
    if (!ok) return false;
  }
  return true;
}

// YAML 1.2 core schema for a plain (unquoted) scalar.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;

  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  int base = 10;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o')) {
    base = body[1] == 'x' ? 16 : 8;
    body.remove_prefix(2);
    // 0x / 0o are unsigned in the core schema.
    if (s[0] == '-' || s[0] == '+') return s;
  }
  if (all_digits(body, base)) {
    uint64_t u = 0;
    auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), u, base);
    if (ec == std::errc() && end == body.data() + body.size()) {
      if (!negative) return u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                                ? json(static_cast<int64_t>(u))
                                : json(u);
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return -static_cast<int64_t>(u);
    }
    // Too large for 64 bits: keep the magnitude as a float, the way JSON
    // parsers do; range checks downstream reject it.
    return negative ? -std::numeric_limits<double>::max() : std::numeric_limits<double>::max();
  }

  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF")
    return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -std::numeric_limits<double>::infinity();
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();

  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  {
    size_t i = 0;
    std::string_view f = body;
    size_t int_digits = 0, frac_digits = 0;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i, ++int_digits;
    bool dot = i < f.size() && f[i] == '.';
    if (dot) {
      ++i;
      while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i, ++frac_digits;
    }
    bool mantissa_ok = int_digits > 0 || (dot && frac_digits > 0);
    bool exp_ok = true;
    if (mantissa_ok && i < f.size() && (f[i] == 'e' || f[i] == 'E')) {
      ++i;
      if (i < f.size() && (f[i] == '-' || f[i] == '+')) ++i;
      size_t exp_digits = 0;
      while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i, ++exp_digits;
      exp_ok = exp_digits > 0;
    }
    if (mantissa_ok && exp_ok && i == f.size()) {
      double d = 0;
      auto [end, ec] = std::from_chars(s.data() + (s[0] == '+' ? 1 : 0), s.data() + s.size(), d);
      if (end == s.data() + s.size()) {
        if (ec == std::errc::result_out_of_range) d = negative ? -std::numeric_limits<double>::max()
                                                               : std::numeric_limits<double>::max();
        return d;
      }
    }
  }
  return s;
}

class Converter {
 public:
  explicit Converter(size_t budget) : budget_(budget) {}

  bool convert(const YAML::Node& node, json& out, int depth) {
    if (budget_ == 0) return fail("the document expands to too many values (alias expansion?)");
    --budget_;
    if (depth > kMaxDepth) return fail("nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = nullptr;
        return true;
      case YAML::NodeType::Scalar:
        out = scalar(node);
        return true;
      case YAML::NodeType::Sequence: {
        out = json::array();
        size_t i = 0;
        for (auto it = node.begin(); it != node.end(); ++it, ++i) {
          path_.push_back("[" + std::to_string(i) + "]");
          json item;
          if (!convert(*it, item, depth + 1)) return false;
          out.push_back(std::move(item));
          path_.pop_back();
        }
        return true;
      }
      case YAML::NodeType::Map: return convert_map(node, out, depth);
    }
    out = nullptr;
    return true;
  }

  std::string error_;
  std::string error_field() const {
    std::string s;
    for (const auto& p : path_) {
      if (!s.empty() && p[0] != '[') s += '.';
      s += p;
    }
    return s;
  }

 private:
  static json scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    // "!" marks quoted and block scalars; !!str is an explicit string.
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return node.Scalar();
    return resolve_plain(node.Scalar());
  }

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  bool convert_map(const YAML::Node& node, json& out, int depth) {
    out = json::object();
    std::vector<YAML::Node> keep;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: `it->` yields a temporary proxy, a reference into it dangles.
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      std::string key;
      if (k.Type() == YAML::NodeType::Scalar) {
        key = k.Scalar();
      } else if (k.Type() != YAML::NodeType::Null) {
        return fail("a mapping key must be a plain value, not a list or mapping");
      }
      if (k.Type() == YAML::NodeType::Scalar && k.Tag() == "?" && key == "<<") {
        keep.push_back(v);
        continue;
      }
      path_.push_back(key);
      if (out.contains(key)) return fail("duplicate key");
      json value;
      if (!convert(v, value, depth + 1)) return false;
      out[key] = std::move(value);
      path_.pop_back();
    }
    // YAML merge keys (`<<: *defaults`): explicit keys win, then earlier merges.
    for (const auto& m : keep) {
      std::vector<YAML::Node> sources;
      if (m.IsMap()) sources.push_back(m);
      else if (m.IsSequence())
        for (auto it = m.begin(); it != m.end(); ++it) sources.push_back(*it);
      for (const auto& src : sources) {
        path_.push_back("<<");
        if (!src.IsMap()) return fail("a merge key (<<) takes a mapping or a list of mappings");
        json merged;
        if (!convert(src, merged, depth + 1)) return false;
        path_.pop_back();
        for (auto& [k, v] : merged.items())
          if (!out.contains(k)) out[k] = std::move(v);
      }
    }
    return true;
  }

  size_t budget_;
  std::vector<std::string> path_;
};

// Records where the first event of a document is, and nothing else.
class FirstMark : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> mark;
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { seen(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { seen(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { seen(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    seen(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    seen(m);
  }
  void OnMapEnd() override {}

 private:
  void seen(const YAML::Mark& m) {
    if (!mark) mark = m;
  }
};

std::string position(const YAML::Mark& mark, int first_line);
bool holds_null(std::string_view chunk);

// YAML::Load reads the first document of its input and drops the rest, and
// yaml-cpp 0.7 stops early on some malformed input without an error: a
// document that starts with a stray character (`,kind: Pod`) reads as empty,
// `[a]\nkind: Pod` as the list alone. Parsing the chunk once more and
// asking for a second document exposes both. (Never more than two calls:
// looping would hit jbeder/yaml-cpp#1040, fixed upstream in 0.8.)
std::string check_single_document(const Chunk& chunk, const YAML::Node& node) {
  try {
    std::stringstream in{std::string(chunk.text)};
    YAML::Parser parser(in);
    FirstMark first, second;
    parser.HandleNextDocument(first);
    if (!parser.HandleNextDocument(second)) return "";
    if (node.IsNull() && holds_null(chunk.text)) return "";
    return "invalid YAML" + position(second.mark.value_or(YAML::Mark::null_mark()), chunk.first_line) +
           ": unexpected content (a stray character, or a missing `---` between documents?)";
  } catch (const YAML::Exception& e) {
    return "invalid YAML" + position(e.mark, chunk.first_line) + ": " + e.msg;
  }
}

// Whether a chunk that yaml-cpp read as null really says nothing: only
// markers, comments, directives, blank lines and null scalars.
bool holds_null(std::string_view chunk) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    size_t eol = chunk.find('\n', pos);
    std::string_view line = chunk.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? chunk.size() : eol + 1;
    if (starts_marker(line, "---") || starts_marker(line, "...")) line.remove_prefix(3);
    else if (!line.empty() && line[0] == '%') continue;
    auto hash = line.find(" #");
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto last = line.find_last_not_of(" \t\r");
    std::string_view word = line.substr(first, last - first + 1);
    if (word != "~" && word != "null" && word != "Null" && word != "NULL") return false;
  }
  return true;
}

// " at line 3, column 5", counted in the whole text; " at line 3" for a
// null mark (the start of the chunk).
std::string position(const YAML::Mark& mark, int first_line) {
  if (mark.is_null()) return " at line " + std::to_string(first_line + 1);
  return " at line " + std::to_string(first_line + mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

}  // namespace

std::vector<YamlDocument> read_yaml_documents(std::string_view text) {
  std::vector<YamlDocument> out;
  for (const Chunk& chunk : split_documents(text)) {
    YamlDocument doc;
    YAML::Node node;
    // One document per chunk, read with Load: yaml-cpp 0.7's LoadAll loops
    // forever on some malformed input (jbeder/yaml-cpp#1040, fixed upstream
    // by #1319 in 0.8).
    try {
      node = YAML::Load(std::string(chunk.text));
    } catch (const YAML::DeepRecursion& e) {
      doc.error = "invalid YAML" + position(e.mark, chunk.first_line) + ": nested too deeply";
    } catch (const YAML::Exception& e) {
      doc.error = "invalid YAML" + position(e.mark, chunk.first_line) + ": " + e.msg;
    } catch (const std::exception& e) {
      doc.error = std::string("invalid YAML: ") + e.what();
    }
    if (doc.error.empty()) doc.error = check_single_document(chunk, node);
    if (!doc.error.empty()) {
      out.push_back(std::move(doc));
      continue;
    }
    // Without aliases a document cannot hold more values than it has bytes;
    // the margin lets ordinary aliases through and stops bombs.
    Converter conv(4 * chunk.text.size() + 10000);
    try {
      if (!conv.convert(node, doc.value, 0)) {
        doc.error = conv.error_;
        doc.error_field = conv.error_field();  // doc.value keeps what was read, for naming the object
      }
    } catch (const std::exception& e) {
      doc.value = nullptr;
      doc.error = std::string("cannot read the YAML document: ") + e.what();
    }
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace bpfence::parse_detail
