// Bad input never crashes the parser and never escapes as an exception:
// truncated and mutated manifests, alias bombs, deep nesting, huge numbers,
// bytes that are not text. (test/fuzz/ runs the same entry points under
// libFuzzer; these are the deterministic cases that run on every build.)
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bpfence/parse.h"

using namespace bpfence;

namespace {

std::vector<std::string> seed_texts() {
  std::vector<std::string> texts;
  for (const char* dir : {BPFENCE_SOURCE_DIR "/test/conformance/recipes", BPFENCE_SOURCE_DIR "/test/unit/data/bad"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".yaml") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      texts.push_back(ss.str());
    }
  }
  return texts;
}

// Whatever parse_manifests returns must be usable: every error says what it
// is about, and every error line is printable ASCII (it is logged and served
// as JSON).
void check_result(const ParseResult& r) {
  for (const auto& e : r.errors) {
    CHECK(!e.message.empty());
    for (char c : e.str()) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) FAIL("non-printable byte in error: " << e.str());
    }
  }
  CHECK(r.ignored >= 0);
}

}  // namespace

TEST_CASE("robustness: every prefix of every recipe and bad-corpus file parses without throwing",
          "[parse][robustness]") {
  size_t runs = 0;
  for (const auto& text : seed_texts()) {
    for (size_t len = 0; len <= text.size(); len += 3) {
      ParseResult r;
      REQUIRE_NOTHROW(r = parse_manifests(std::string_view(text).substr(0, len), "cut.yaml"));
      check_result(r);
      ++runs;
    }
  }
  CHECK(runs > 1000);
}

TEST_CASE("robustness: randomly mutated manifests parse without throwing", "[parse][robustness]") {
  std::mt19937 rng(20261123);  // fixed: the same cases on every run
  const std::string alphabet = "{}[]:-,'\"&*!|>#%@`?\n \t0123456789abcxyz.\\/\x00\xff";
  auto texts = seed_texts();
  for (int i = 0; i < 3000; ++i) {
    std::string text = texts[rng() % texts.size()];
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text.erase(at, 1 + rng() % 8); break;
      }
    }
    ParseResult r;
    REQUIRE_NOTHROW(r = parse_manifests(text, "mutated.yaml"));
    check_result(r);
  }
}

TEST_CASE("robustness: an alias bomb is refused quickly, not expanded", "[parse][robustness]") {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  auto start = std::chrono::steady_clock::now();
  ParseResult r = parse_manifests(bomb, "bomb.yaml");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.objects.empty());
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0].message, Catch::Contains("too many values"));
  CHECK(took < std::chrono::seconds(2));
}

TEST_CASE("robustness: deep nesting is an error, not a stack overflow", "[parse][robustness]") {
  for (size_t depth : {300u, 5000u, 200000u}) {
    std::string flow = std::string(depth, '[') + std::string(depth, ']');
    ParseResult y = parse_manifests("kind: Pod\nx: " + flow + "\n");
    CHECK(y.objects.empty());
    CHECK(!y.errors.empty());

    std::string block;
    for (size_t i = 0; i < std::min<size_t>(depth, 3000); ++i) block += std::string(i, ' ') + "a:\n";
    CHECK_NOTHROW(parse_manifests(block));

    ParseResult j = parse_manifests("{\"kind\": \"Pod\", \"x\": " + std::string(depth, '[') + std::string(depth, ']') + "}");
    CHECK(j.objects.empty());
    CHECK(!j.errors.empty());
  }
}

TEST_CASE("robustness: numbers beyond 64 bits are out of range, not wrapped", "[parse][robustness]") {
  for (const char* port : {"99999999999999999999999", "-99999999999999999999999", "18446744073709551616",
                           "1e400", "65536", "4294967376"}) {
    INFO(port);
    ParseResult r = parse_manifests(std::string(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: big}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: )") + port + "\n");
    CHECK(r.objects.empty());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].field == "spec.ingress[0].ports[0].port");
  }
}

TEST_CASE("robustness: bytes that are not UTF-8 end up escaped in errors, never in objects", "[parse][robustness]") {
  ParseResult r = parse_manifests("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"caf\xc3\xa9\xff\"\n");
  CHECK(r.objects.empty());
  REQUIRE(r.errors.size() == 1);
  check_result(r);
  CHECK(r.errors[0].object == "document 1");
  ParseResult j = parse_manifests("{\"kind\": \"Pod\xff\"}");
  REQUIRE(j.errors.size() == 1);
  check_result(j);
}
