// YAML documents to nlohmann::json. yaml-cpp reads the syntax; this file
// decides what each scalar means (YAML 1.2 core schema: `80` is a number,
// `"80"` a string) and guards against inputs that would make the conversion
// explode (alias bombs, deep nesting).
#include "parse_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

// GCC 12 reports false dangling-pointer warnings inside yaml-cpp's inline
// node code, instantiated from here.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
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

// Builds nlohmann::json straight from yaml-cpp's parse events (no
// YAML::Node graph in between). Aliases are copied, counted against a
// budget so an alias bomb stops early; a map key must be a plain value; a
// key may appear once; `<<` merge keys are applied when the map ends.
class JsonBuilder : public YAML::EventHandler {
 public:
  explicit JsonBuilder(size_t budget) : budget_(budget) {}

  json result;
  std::string error;        // "" when the document was read
  std::string error_field;  // where
  std::optional<YAML::Mark> error_mark;

  // After a failure: the top-level mapping as far as it was read (enough to
  // name the object when metadata came first).
  json take_partial() { return stack_.empty() ? std::move(result) : std::move(stack_.front().value); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override {
    if (is_key()) return set_key(m, "", false);
    add(m, nullptr, 1, anchor);
  }

  void OnScalar(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override {
    // "!" marks quoted and block scalars, !!str an explicit string: both
    // stay strings. Plain scalars are resolved (80 is a number).
    bool plain = tag != "!" && tag != "tag:yaml.org,2002:str";
    if (is_key()) return set_key(m, value, plain && tag == "?" && value == "<<");
    add(m, plain ? resolve_plain(value) : json(value), 1, anchor);
  }

  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    if (failed()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return fail(m, "an alias refers to an anchor that is not complete or not defined");
    if (is_key()) {
      if (!it->second.value.is_string()) return fail(m, "a mapping key must be a plain value, not a list or mapping");
      return set_key(m, it->second.value.get<std::string>(), false);
    }
    add(m, it->second.value, it->second.nodes, 0);
  }

  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(m, json::array(), anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(m, json::object(), anchor);
  }
  void OnMapEnd() override {
    if (failed() || stack_.empty()) return;
    Frame& f = stack_.back();
    // Explicit keys win over merged ones, earlier merges over later ones.
    for (auto& source : f.merges)
      for (auto& [k, v] : source.items())
        if (!f.value.contains(k)) f.value[k] = std::move(v);
    close();
  }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = 0;
    size_t nodes = 1;
    // Maps: the key waiting for its value.
    bool has_key = false;
    bool merge_key = false;
    std::string key;
    std::vector<json> merges;
  };
  struct Anchored {
    json value;
    size_t nodes;
  };

  bool failed() const { return !error.empty(); }
  bool is_key() const { return !failed() && !stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key; }

  void fail(const YAML::Mark& m, std::string message) {
    if (failed()) return;
    error = std::move(message);
    error_mark = m;
    for (const auto& f : stack_) {
      if (f.value.is_array()) {
        error_field += "[" + std::to_string(f.value.size()) + "]";
      } else if (f.has_key) {
        if (!error_field.empty()) error_field += '.';
        error_field += f.key;
      }
    }
  }

  void set_key(const YAML::Mark& m, const std::string& key, bool merge) {
    if (failed()) return;
    Frame& f = stack_.back();
    f.key = key;
    f.merge_key = merge;
    f.has_key = true;
    if (!merge && f.value.contains(key)) fail(m, "duplicate key");
  }

  void open(const YAML::Mark& m, json value, YAML::anchor_t anchor) {
    if (failed()) return;
    if (is_key()) return fail(m, "a mapping key must be a plain value, not a list or mapping");
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) return fail(m, "nested too deeply");
    stack_.push_back(Frame{std::move(value), anchor});
  }

  void close() {
    if (failed() || stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    add(YAML::Mark::null_mark(), std::move(f.value), f.nodes, f.anchor);
  }

  void add(const YAML::Mark& m, json value, size_t nodes, YAML::anchor_t anchor) {
    if (failed()) return;
    if (nodes > budget_) return fail(m, "the document expands to too many values (alias expansion?)");
    budget_ -= nodes;
    if (anchor) anchors_[anchor] = Anchored{value, nodes};
    if (stack_.empty()) {
      result = std::move(value);
      return;
    }
    Frame& f = stack_.back();
    f.nodes += nodes;
    if (f.value.is_array()) {
      f.value.push_back(std::move(value));
      return;
    }
    f.has_key = false;
    if (!f.merge_key) {
      f.value[f.key] = std::move(value);
      return;
    }
    if (value.is_object()) {
      f.merges.push_back(std::move(value));
    } else if (value.is_array() && std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_object(); })) {
      for (auto& v : value) f.merges.push_back(std::move(v));
    } else {
      f.has_key = true;  // name the merge key in the error
      fail(m, "a merge key (<<) takes a mapping or a list of mappings");
    }
  }

  size_t budget_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
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

// One chunk, one document. The parser is asked for a second document once:
// yaml-cpp 0.7 stops early on some malformed input without an error (a
// document starting with a stray `,` reads as empty, `[a]\nkind: Pod` as the
// list alone), and the second call exposes what it left. Never more than
// that: looping, as LoadAll does, hangs on such input (jbeder/yaml-cpp#1040,
// fixed upstream in 0.8).
YamlDocument read_chunk(const Chunk& chunk) {
  YamlDocument doc;
  std::stringstream in{std::string(chunk.text)};
  // Without aliases a document cannot hold more values than it has bytes;
  // the margin lets ordinary aliases through and stops bombs.
  JsonBuilder builder(4 * chunk.text.size() + 10000);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(builder);
    if (!builder.error.empty()) {
      doc.error = builder.error + position(builder.error_mark.value_or(YAML::Mark::null_mark()), chunk.first_line);
      doc.error_field = builder.error_field;
      doc.value = builder.take_partial();
      return doc;
    }
    doc.value = std::move(builder.result);
    FirstMark rest;
    if (parser.HandleNextDocument(rest) && !(doc.value.is_null() && holds_null(chunk.text))) {
      doc.value = nullptr;
      doc.error = "invalid YAML" + position(rest.mark.value_or(YAML::Mark::null_mark()), chunk.first_line) +
                  ": unexpected content (a stray character, or a missing `---` between documents?)";
    }
  } catch (const YAML::DeepRecursion& e) {
    doc.value = nullptr;
    doc.error = "invalid YAML" + position(e.mark, chunk.first_line) + ": nested too deeply";
  } catch (const YAML::Exception& e) {
    doc.value = nullptr;
    doc.error = "invalid YAML" + position(e.mark, chunk.first_line) + ": " + e.msg;
  } catch (const std::exception& e) {
    doc.value = nullptr;
    doc.error = std::string("invalid YAML: ") + e.what();
  }
  return doc;
}

}  // namespace

std::vector<YamlDocument> read_yaml_documents(std::string_view text) {
  std::vector<YamlDocument> out;
  for (const Chunk& chunk : split_documents(text)) out.push_back(read_chunk(chunk));
  return out;
}

}  // namespace bpfence::parse_detail
