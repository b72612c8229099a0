// The pure parts of the API client: watch stream decoding (lines split
// anywhere, garbage, over-long lines), backoff, server URLs.
#include <catch2/catch.hpp>

#include <random>

#include "k8s/api_backoff.h"
#include "k8s/api_client.h"
#include "k8s/api_source.h"
#include "k8s/api_watch_decoder.h"

using namespace bpfence;
using Type = WatchEvent::Type;

namespace {

std::string event_line(const std::string& type, const std::string& name, int rv) {
  return nlohmann::json{{"type", type},
                        {"object", {{"kind", "Pod"}, {"metadata", {{"name", name}, {"resourceVersion", std::to_string(rv)}}}}}}
             .dump() +
         "\n";
}

struct Decoded {
  std::vector<WatchEvent> events;
  std::vector<std::string> errors;
};

Decoded decode_in_pieces(const std::string& stream, const std::vector<size_t>& cuts) {
  WatchStreamDecoder decoder;
  Decoded d;
  size_t at = 0;
  for (size_t cut : cuts) {
    decoder.feed(std::string_view(stream).substr(at, cut - at), d.events, d.errors);
    at = cut;
  }
  decoder.feed(std::string_view(stream).substr(at), d.events, d.errors);
  return d;
}

}  // namespace

TEST_CASE("watch decoder: one event per line, all types", "[kubeapi][decoder]") {
  const std::string stream = event_line("ADDED", "a", 1) + event_line("MODIFIED", "a", 2) +
                             event_line("DELETED", "a", 3) + event_line("BOOKMARK", "", 4) +
                             R"({"type":"ERROR","object":{"kind":"Status","code":410}})" "\n";
  auto d = decode_in_pieces(stream, {});
  REQUIRE(d.errors.empty());
  REQUIRE(d.events.size() == 5);
  CHECK(d.events[0].type == Type::Added);
  CHECK(d.events[1].type == Type::Modified);
  CHECK(d.events[2].type == Type::Deleted);
  CHECK(d.events[3].type == Type::Bookmark);
  CHECK(d.events[4].type == Type::Error);
  CHECK(d.events[1].object["metadata"]["resourceVersion"] == "2");
  CHECK(d.events[4].object["code"] == 410);
}

TEST_CASE("watch decoder: a stream split at every byte position decodes the same", "[kubeapi][decoder]") {
  const std::string stream = event_line("ADDED", "first", 10) + event_line("MODIFIED", "second", 11);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    auto d = decode_in_pieces(stream, {cut});
    INFO("cut at " << cut);
    REQUIRE(d.errors.empty());
    REQUIRE(d.events.size() == 2);
    CHECK(d.events[0].object["metadata"]["name"] == "first");
    CHECK(d.events[1].object["metadata"]["name"] == "second");
  }
}

TEST_CASE("watch decoder: random chunking, byte by byte included, never changes the events", "[kubeapi][decoder]") {
  std::string stream;
  for (int i = 0; i < 50; ++i) stream += event_line(i % 3 ? "MODIFIED" : "ADDED", "pod-" + std::to_string(i), 100 + i);
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> cuts;
    std::uniform_int_distribution<size_t> step(1, round == 0 ? 1 : 300);
    for (size_t at = step(rng); at < stream.size(); at += step(rng)) cuts.push_back(at);
    auto d = decode_in_pieces(stream, cuts);
    REQUIRE(d.errors.empty());
    REQUIRE(d.events.size() == 50);
    CHECK(d.events[49].object["metadata"]["resourceVersion"] == "149");
  }
}

TEST_CASE("watch decoder: pending() tells a stream cut mid-event", "[kubeapi][decoder]") {
  WatchStreamDecoder decoder;
  std::vector<WatchEvent> events;
  std::vector<std::string> errors;
  const std::string line = event_line("ADDED", "a", 1);
  decoder.feed(line.substr(0, 10), events, errors);
  CHECK(events.empty());
  CHECK(decoder.pending() == 10);
  // A new connection starts clean: the half line is not glued to the next.
  decoder.reset();
  CHECK(decoder.pending() == 0);
  decoder.feed(line, events, errors);
  CHECK(errors.empty());
  REQUIRE(events.size() == 1);
  CHECK(decoder.pending() == 0);
}

TEST_CASE("watch decoder: bad lines become errors and decoding goes on", "[kubeapi][decoder]") {
  const std::string stream = std::string("this is not json\n") + "[1,2]\n" + R"({"object":{}})" "\n" +
                             R"({"type":"EXPLODED","object":{}})" "\n" + R"({"type":"ADDED","object":"str"})" "\n" +
                             "\r\n   \n" + event_line("ADDED", "good", 7);
  auto d = decode_in_pieces(stream, {3, 20});
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].object["metadata"]["name"] == "good");
  REQUIRE(d.errors.size() == 5);
  CHECK(d.errors[0] == "watch event 1: not valid JSON");
  CHECK(d.errors[1] == "watch event 2: not a JSON object");
  CHECK(d.errors[2] == "watch event 3: type: missing or not a string");
  CHECK(d.errors[3] == "watch event 4: type: unknown event type \"EXPLODED\"");
  CHECK(d.errors[4] == "watch event 5: object: missing or not a JSON object");
}

TEST_CASE("watch decoder: CRLF line ends are accepted", "[kubeapi][decoder]") {
  std::string line = event_line("ADDED", "a", 1);
  line.insert(line.size() - 1, "\r");
  auto d = decode_in_pieces(line + line, {line.size() - 1});
  CHECK(d.errors.empty());
  CHECK(d.events.size() == 2);
}

TEST_CASE("watch decoder: an over-long line is dropped whole, the next one decodes", "[kubeapi][decoder]") {
  WatchStreamDecoder decoder(64);
  std::vector<WatchEvent> events;
  std::vector<std::string> errors;
  const std::string big = R"({"type":"ADDED","object":{"pad":")" + std::string(200, 'x') + "\"}}\n";
  // Fed in small pieces: memory stays bounded by the limit.
  for (size_t i = 0; i < big.size(); i += 16) {
    decoder.feed(std::string_view(big).substr(i, 16), events, errors);
    CHECK(decoder.pending() <= 64);
  }
  decoder.feed(event_line("ADDED", "b", 2).substr(0, 60), events, errors);  // 60 bytes fits
  const std::string small = R"({"type":"BOOKMARK","object":{}})" "\n";
  decoder.reset();
  decoder.feed(small, events, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("longer than 64 bytes") != std::string::npos);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == Type::Bookmark);
}

TEST_CASE("backoff doubles up to the cap, with jitter in [d/2, d], and resets", "[kubeapi][backoff]") {
  using ms = std::chrono::milliseconds;
  Backoff b(ms(100), ms(1000), 7);
  const int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t ceiling : ceilings) {
    const auto d = b.next().count();
    CHECK(d >= ceiling / 2);
    CHECK(d <= ceiling);
  }
  b.reset();
  CHECK(b.next().count() <= 100);
  // Jitter: two agents with different seeds do not wait the same.
  Backoff x(ms(1000), ms(1000), 1), y(ms(1000), ms(1000), 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) differ |= x.next() != y.next();
  CHECK(differ);
}

TEST_CASE("the agent's default schedules: reconnects within 1 s, errors back off to 8 s", "[kubeapi][backoff]") {
  using ms = std::chrono::milliseconds;
  const ApiSourceOptions defaults;
  // Connection refused for a long time (a server restart): no wait ever
  // exceeds 1 s, so the agent is back within about 1 s of the server's
  // return; jitter keeps each wait in [d/2, d].
  Backoff reconnect(defaults.backoff_initial, defaults.backoff_max, 11);
  const int64_t reconnect_ceilings[] = {250, 500, 1000, 1000, 1000, 1000, 1000, 1000};
  for (int64_t ceiling : reconnect_ceilings) {
    const auto d = reconnect.next().count();
    CHECK(d >= ceiling / 2);
    CHECK(d <= ceiling);
  }
  // The server answering errors: the waits grow to 8 s, never beyond.
  Backoff errors(defaults.error_backoff_initial, defaults.error_backoff_max, 11);
  const int64_t error_ceilings[] = {1000, 2000, 4000, 8000, 8000, 8000};
  for (int64_t ceiling : error_ceilings) {
    const auto d = errors.next().count();
    CHECK(d >= ceiling / 2);
    CHECK(d <= ceiling);
  }
  CHECK(defaults.backoff_max == ms(1000));
  CHECK(defaults.error_backoff_max == ms(8000));
}

TEST_CASE("server URLs: scheme, host, port, IPv6, path prefix", "[kubeapi][url]") {
  ServerUrl u;
  REQUIRE(parse_server_url("https://10.0.0.1:6443", u));
  CHECK(u.tls);
  CHECK(u.host == "10.0.0.1");
  CHECK(u.port == 6443);
  CHECK(u.base_path.empty());
  REQUIRE(parse_server_url("https://kubernetes.default.svc", u));
  CHECK(u.port == 443);
  REQUIRE(parse_server_url("http://127.0.0.1:8001/k8s/clusters/c-1/", u));
  CHECK_FALSE(u.tls);
  CHECK(u.port == 8001);
  CHECK(u.base_path == "/k8s/clusters/c-1");
  REQUIRE(parse_server_url("https://[fd00::1]:6443", u));
  CHECK(u.host == "fd00::1");
  CHECK(u.port == 6443);
  CHECK_FALSE(parse_server_url("ftp://x", u));
  CHECK_FALSE(parse_server_url("https://:6443", u));
  CHECK_FALSE(parse_server_url("https://host:99999", u));
  CHECK_FALSE(parse_server_url("https://[fd00::1", u));
  auto s = parse_server_url("https://host:6443x", u);
  CHECK(s.message().find("bad port") != std::string::npos);
}
