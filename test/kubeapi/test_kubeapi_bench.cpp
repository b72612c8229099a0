// Hidden timing runs (not part of ctest): initial sync of many pods through
// paginated LISTs, and the delay from a server-side change to the sink.
// Run: kubeapi_tests "[bench]"
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "fake_api_server.h"
#include "k8s/api_source.h"
#include "kube_test_util.h"

using namespace bpfence;
using namespace bpfence::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void run(FakeApiServer& server, const KubeConfig& config, const char* label) {
  constexpr int kPodCount = 5000;
  server.upsert(kNamespaces, namespace_json("bench"));
  for (int i = 0; i < kPodCount; ++i)
    server.upsert(kPods, pod_json("bench", "pod-" + std::to_string(i),
                                  "10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250), {{"app", "x"}}));
  // Timestamps taken in the sink itself, not by a polling waiter.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Clock::time_point> arrivals;
  bool synced_seen = false;
  auto sink = [&](SourceUpdate) {
    std::lock_guard lock(mu);
    arrivals.push_back(Clock::now());
    cv.notify_all();
  };
  ApiSourceOptions o;
  o.page_limit = 500;
  o.log = [](std::string_view) {};
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(config, o, source));
  const auto t0 = Clock::now();
  source->start(sink);
  // synced() turns true just after the last initial list left the sink.
  while (!(synced_seen = source->synced()) && Clock::now() - t0 < 60s) std::this_thread::sleep_for(200us);
  REQUIRE(synced_seen);
  const double sync_ms = ms_since(t0);
  REQUIRE(server.wait_for([&] { return server.active_streams(kPods) == 1; }));

  // One change at a time: server upsert -> update in the sink.
  std::vector<double> lat;
  for (int i = 0; i < 200; ++i) {
    std::unique_lock lock(mu);
    const size_t before = arrivals.size();
    lock.unlock();
    const auto t = Clock::now();
    server.upsert(kPods, pod_json("bench", "pod-" + std::to_string(i), "10.2.0." + std::to_string(i % 250), {{"app", "y"}}));
    lock.lock();
    REQUIRE(cv.wait_for(lock, 5s, [&] { return arrivals.size() > before; }));
    lat.push_back(std::chrono::duration<double, std::milli>(arrivals[before] - t).count());
  }
  std::sort(lat.begin(), lat.end());
  std::printf("%s: initial sync of %d pods (limit 500): %.1f ms; change->sink p50 %.2f ms p99 %.2f ms (n=%zu)\n", label,
              kPodCount, sync_ms, lat[lat.size() / 2], lat[lat.size() * 99 / 100], lat.size());
  source->stop();
}

}  // namespace

TEST_CASE("bench: sync and event latency over HTTP", "[.][bench]") {
  FakeApiServer server;
  KubeConfig c;
  c.server = server.url();
  run(server, c, "http");
}

TEST_CASE("bench: sync and event latency over HTTPS", "[.][bench]") {
  TestCert cert = make_test_cert();
  FakeApiServer server(cert.cert.get(), cert.key.get());
  KubeConfig c;
  c.server = server.url();
  c.ca_pem = cert.cert_pem;
  run(server, c, "https");
}
