// The corpus of rejected objects (test/unit/data/bad/*.yaml). Each file holds
// one object the API server would refuse and, in its leading comments, the
// object and field the error must name. Each is loaded between two valid
// siblings: the bad object is rejected whole, the siblings still load.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bpfence/parse.h"
#include "bpfence/source.h"

using namespace bpfence;

namespace {

struct BadCase {
  std::string name;
  std::string text;
  std::string object;
  std::string field;
  std::string message;
  size_t loads = 2;  // the two siblings, unless the file says otherwise
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<BadCase> load_corpus() {
  std::vector<BadCase> cases;
  for (const auto& entry : std::filesystem::directory_iterator(BPFENCE_SOURCE_DIR "/test/unit/data/bad")) {
    if (entry.path().extension() != ".yaml") continue;
    BadCase c;
    c.name = entry.path().stem().string();
    c.text = read_file(entry.path());
    std::istringstream lines(c.text);
    std::string line;
    auto value = [&](const char* tag, std::string& out) {
      std::string prefix = std::string("# ") + tag + ":";
      if (line.rfind(prefix, 0) != 0) return;
      out = line.substr(prefix.size());
      if (!out.empty() && out[0] == ' ') out.erase(0, 1);
    };
    while (std::getline(lines, line) && line.rfind("#", 0) == 0) {
      value("object", c.object);
      value("field", c.field);
      value("message", c.message);
      std::string loads;
      value("loads", loads);
      if (!loads.empty()) c.loads = std::stoul(loads);
    }
    cases.push_back(std::move(c));
  }
  std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return cases;
}

const std::string kSiblingBefore = R"(apiVersion: v1
kind: Namespace
metadata:
  name: sibling
)";
const std::string kSiblingAfter = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: sibling-after
spec:
  podSelector: {}
)";

std::string describe(const ParseResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += "\n  error: " + e.str() + "  [field=" + e.field + "]";
  for (const auto& o : r.objects) s += "\n  loaded: " + key_of(o).kind + " " + key_of(o).key;
  return s;
}

}  // namespace

TEST_CASE("the bad-object corpus holds at least 30 cases, each with its expectations", "[parse][validation]") {
  auto corpus = load_corpus();
  CHECK(corpus.size() >= 30);
  for (const auto& c : corpus) {
    INFO(c.name);
    CHECK(!c.object.empty());
    CHECK(!c.message.empty());
  }
}

TEST_CASE("a bad object is rejected whole with an error naming file, object and field; its siblings load",
          "[parse][validation]") {
  for (const auto& c : load_corpus()) {
    DYNAMIC_SECTION(c.name) {
      const std::string file = c.name + ".yaml";
      ParseResult r = parse_manifests(kSiblingBefore + "---\n" + c.text + "---\n" + kSiblingAfter, file);
      INFO(c.name << describe(r));
      REQUIRE(!r.errors.empty());
      for (const auto& e : r.errors) {
        CHECK(e.file == file);
        CHECK(e.object == c.object);
        CHECK(e.field == c.field);
      }
      CHECK_THAT(r.errors.front().message, Catch::Contains(c.message));
      // The message reads whole in one line: file, object, field, reason.
      std::string line = r.errors.front().str();
      CHECK_THAT(line, Catch::StartsWith(file + ": " + c.object + ": "));

      CHECK(r.objects.size() == c.loads);
      std::vector<ObjectKey> keys;
      for (const auto& o : r.objects) keys.push_back(key_of(o));
      CHECK(std::count(keys.begin(), keys.end(), ObjectKey{"Namespace", "sibling"}) == 1);
      CHECK(std::count(keys.begin(), keys.end(), ObjectKey{"NetworkPolicy", "default/sibling-after"}) == 1);
      for (const auto& k : keys) CHECK(k.kind + " " + k.key != c.object);
    }
  }
}
