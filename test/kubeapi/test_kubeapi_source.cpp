// ApiSource against the local fake API server over HTTP: paginated lists,
// watch events, bookmarks, 410 Gone (status and ERROR event), cut streams,
// token rotation, rejected objects, prompt stop. Assertions are on the
// SourceUpdates delivered and on the requests the server saw.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "fake_api_server.h"
#include "k8s/api_rejections.h"
#include "k8s/api_source.h"
#include "kube_test_util.h"

using namespace bpfence;
using namespace bpfence::test;
using namespace std::chrono_literals;

namespace {

struct Harness {
  FakeApiServer server;  // first: outlives the source
  Collector collector;
  TempDir dir;
  std::unique_ptr<ApiSource> source;

  ApiSourceOptions options() {
    ApiSourceOptions o;
    o.page_limit = 3;
    o.watch_timeout = 30s;
    o.backoff_initial = 10ms;
    o.backoff_max = 100ms;
    o.error_backoff_initial = 20ms;
    o.error_backoff_max = 200ms;
    o.absent_recheck = 100ms;
    o.log = collector.logger();
    return o;
  }
  KubeConfig config() {
    KubeConfig c;
    c.server = server.url();
    c.origin = "test";
    return c;
  }
  void start(const KubeConfig& c, const ApiSourceOptions& o) {
    Status s = ApiSource::create(c, o, source);
    INFO(s.message());
    REQUIRE(s);
    source->start(collector.sink());
  }
  void start() { start(config(), options()); }
  // Starts with an error backoff beyond the test's patience (a fix must be
  // noticed by its file changing, not by the wait running out) and returns
  // the first failure health() reports.
  SourceHealth start_patient_until_unhealthy(const KubeConfig& c) {
    ApiSourceOptions o = options();
    o.error_backoff_initial = 60s;
    o.error_backoff_max = 60s;
    start(c, o);
    REQUIRE(collector.wait_for([&] { return !source->health().ok(); }));
    return source->health();
  }
  void wait_synced() {
    INFO(logs());
    REQUIRE(collector.wait_for([&] { return source->synced(); }));
  }
  // All three watches are open on the server.
  void wait_watching() {
    REQUIRE(server.wait_for([&] {
      return server.active_streams(kNamespaces) == 1 && server.active_streams(kPods) == 1 &&
             server.active_streams(kPolicies) == 1;
    }));
  }
  bool has(const std::string& kind, const std::string& key, const std::string& rv = "") {
    auto state = collector.state();
    auto it = state.find(ObjectKey{kind, key});
    return it != state.end() && (rv.empty() || it->second == rv);
  }
  bool wait_has(const std::string& kind, const std::string& key, const std::string& rv = "") {
    return collector.wait_for([&] { return has(kind, key, rv); });
  }
  std::string logs() {
    std::string all;
    for (auto& l : collector.logs()) all += l + "\n";
    return all;
  }
  // How many upserts of this object (any version) were delivered.
  int upserts_of(const std::string& kind, const std::string& key) {
    int n = 0;
    for (auto& u : collector.updates())
      for (auto& o : u.upserts)
        if (key_of(o) == ObjectKey{kind, key}) ++n;
    return n;
  }
  void seed(int pods) {
    server.upsert(kNamespaces, namespace_json("default"));
    server.upsert(kNamespaces, namespace_json("team-a", {{"team", "a"}}));
    for (int i = 0; i < pods; ++i)
      server.upsert(kPods, pod_json("team-a", "web-" + std::to_string(i), "10.1.0." + std::to_string(10 + i), {{"app", "web"}}));
    server.upsert(kPolicies, policy_json("team-a", "allow-web", "web", 80));
  }
  std::string rv_now() { return std::to_string(server.resource_version()); }
};

}  // namespace

TEST_CASE("the synced event: the last initial list is marked synced, once, after the other kinds' lists",
          "[kubeapi][source]") {
  Harness h;
  h.seed(4);
  h.start();
  h.wait_synced();
  h.wait_watching();
  h.server.upsert(kPods, pod_json("team-a", "late", "10.1.0.99", {{"app", "web"}}));
  REQUIRE(h.wait_has("Pod", "team-a/late"));

  std::vector<SourceUpdate> updates = h.collector.updates();
  auto marked = std::find_if(updates.begin(), updates.end(), [](const SourceUpdate& u) { return u.synced; });
  REQUIRE(marked != updates.end());
  // Once: the watch event that followed is not marked.
  CHECK(std::count_if(updates.begin(), updates.end(), [](const SourceUpdate& u) { return u.synced; }) == 1);
  // Whoever took it has taken every kind's initial list.
  REQUIRE(marked->resync_kind);
  std::set<std::string> listed;
  for (auto it = updates.begin(); it != marked + 1; ++it)
    if (it->resync_kind) listed.insert(*it->resync_kind);
  // ClusterNetworkPolicy too: its 404 (no CRD) is its (empty) initial list.
  CHECK(listed == std::set<std::string>{"Namespace", "Pod", "NetworkPolicy", "ClusterNetworkPolicy"});
}

TEST_CASE("list: paginated LISTs give one resync per kind, then watches start from the list's resourceVersion",
          "[kubeapi][source]") {
  Harness h;
  h.seed(7);
  const std::string list_rv = h.rv_now();
  h.start();
  CHECK(h.source->describe().find(h.server.url()) != std::string::npos);
  h.wait_synced();

  // 7 pods at limit=3: three pages, chained by continue tokens.
  auto pod_lists = h.server.requests(kPods, false);
  REQUIRE(pod_lists.size() == 3);
  CHECK(pod_lists[0].param("limit") == "3");
  CHECK(pod_lists[0].param("continue").empty());
  CHECK_FALSE(pod_lists[1].param("continue").empty());
  CHECK_FALSE(pod_lists[2].param("continue").empty());

  // One complete update per kind, marked as a resync.
  for (const char* kind : {"Namespace", "Pod", "NetworkPolicy"}) CHECK(h.collector.resyncs(kind) == 1);
  for (auto& u : h.collector.updates())
    if (u.resync_kind == "Pod") CHECK(u.upserts.size() == 7);
  auto state = h.collector.state();
  CHECK(state.size() == 2 + 7 + 1);
  CHECK(h.has("Namespace", "team-a"));
  CHECK(h.has("Pod", "team-a/web-6"));
  CHECK(h.has("NetworkPolicy", "team-a/allow-web"));
  CHECK(h.collector.errors().empty());

  h.wait_watching();
  for (const auto& path : {kNamespaces, kPods, kPolicies}) {
    auto watches = h.server.requests(path, true);
    REQUIRE(watches.size() == 1);
    CHECK(watches[0].param("resourceVersion") == list_rv);
    CHECK(watches[0].param("allowWatchBookmarks") == "true");
    CHECK(watches[0].param("timeoutSeconds") == "30");
  }
}

TEST_CASE("watch: ADDED, MODIFIED, DELETED arrive in order, even with lines split across chunks", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.server.set_split_events(true);
  h.start();
  h.wait_synced();
  h.wait_watching();
  const size_t before = h.collector.updates().size();

  h.server.upsert(kPods, pod_json("team-a", "db", "10.1.0.50", {{"app", "db"}}));
  const std::string added = h.rv_now();
  h.server.upsert(kPods, pod_json("team-a", "db", "10.1.0.50", {{"app", "db"}, {"tier", "2"}}));
  const std::string modified = h.rv_now();
  h.server.remove(kPods, "team-a/db");
  h.server.upsert(kNamespaces, namespace_json("team-b"));
  h.server.remove(kPolicies, "team-a/allow-web");

  REQUIRE(h.collector.wait_for([&] { return h.has("Namespace", "team-b") && !h.has("NetworkPolicy", "team-a/allow-web"); }));
  REQUIRE(h.collector.wait_for([&] { return h.upserts_of("Pod", "team-a/db") == 2 && !h.has("Pod", "team-a/db"); }));

  // The Pod updates, in order: add, modify, delete.
  std::vector<std::string> seen;
  auto updates = h.collector.updates();
  for (size_t i = before; i < updates.size(); ++i) {
    for (auto& o : updates[i].upserts)
      if (key_of(o).kind == "Pod") seen.push_back("upsert " + resource_version_of(o));
    for (auto& k : updates[i].deletes)
      if (k.kind == "Pod") seen.push_back("delete " + k.key);
    CHECK_FALSE(updates[i].resync_kind.has_value());
  }
  CHECK(seen == std::vector<std::string>{"upsert " + added, "upsert " + modified, "delete team-a/db"});
  CHECK(h.collector.errors().empty());
}

TEST_CASE("watch: a connection cut mid-event resumes from the last resourceVersion, no event lost or repeated",
          "[kubeapi][source]") {
  Harness h;
  h.seed(2);
  h.start();
  h.wait_synced();
  h.wait_watching();

  h.server.upsert(kPods, pod_json("team-a", "p1", "10.1.0.91"));
  const std::string p1_rv = h.rv_now();
  REQUIRE(h.wait_has("Pod", "team-a/p1", p1_rv));

  // The next event is sent half, then the connection drops.
  h.server.cut_next_event(kPods);
  h.server.upsert(kPods, pod_json("team-a", "p2", "10.1.0.92"));
  REQUIRE(h.wait_has("Pod", "team-a/p2"));

  auto watches = h.server.requests(kPods, true);
  REQUIRE(watches.size() == 2);
  CHECK(watches[1].param("resourceVersion") == p1_rv);
  CHECK(h.upserts_of("Pod", "team-a/p2") == 1);
  CHECK(h.upserts_of("Pod", "team-a/p1") == 1);
  CHECK(h.collector.resyncs("Pod") == 1);  // resumed, not relisted
  CHECK(h.collector.errors().empty());
  // The client really held half an event when the connection dropped.
  bool half_held = false;
  for (auto& line : h.collector.logs())
    if (line.find("watch connection lost") != std::string::npos && line.find("kind=Pod") != std::string::npos)
      half_held |= line.find("pending_bytes=0") == std::string::npos;
  CHECK(half_held);
}

TEST_CASE("watch: a bookmark moves the resourceVersion a reconnect resumes from", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.start();
  h.wait_synced();
  h.wait_watching();
  const size_t before = h.collector.updates().size();

  const uint64_t bookmark_rv = h.server.bookmark(kPods);
  h.server.cut_next_event(kPods);
  h.server.upsert(kPods, pod_json("team-a", "after-bookmark", "10.1.0.77"));
  REQUIRE(h.wait_has("Pod", "team-a/after-bookmark"));

  auto watches = h.server.requests(kPods, true);
  REQUIRE(watches.size() == 2);
  CHECK(watches[1].param("resourceVersion") == std::to_string(bookmark_rv));
  // A bookmark is not a change: it produced no update.
  auto updates = h.collector.updates();
  REQUIRE(updates.size() == before + 1);
  CHECK(updates.back().upserts.size() == 1);
}

TEST_CASE("410 Gone as an HTTP status: relist, and the relist shows what the watch missed", "[kubeapi][source]") {
  Harness h;
  h.seed(4);
  h.start();
  h.wait_synced();
  h.wait_watching();

  // Changes the watch never sees (compacted away), then the history expires.
  h.server.remove(kPods, "team-a/web-0", /*record=*/false);
  h.server.upsert(kPods, pod_json("team-a", "web-9", "10.1.0.99"), /*record=*/false);
  h.server.expire(kPods, FakeApiServer::GoneMode::HttpStatus);
  const std::string relist_rv = h.rv_now();

  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("Pod") == 2; }));
  CHECK_FALSE(h.has("Pod", "team-a/web-0"));
  CHECK(h.has("Pod", "team-a/web-9"));
  CHECK(h.has("Pod", "team-a/web-3"));
  CHECK(h.collector.resyncs("Namespace") == 1);
  CHECK(h.collector.logged("HTTP 410"));

  // The watch after the relist starts from the relist's version and works.
  REQUIRE(h.server.wait_for([&] {
    auto w = h.server.requests(kPods, true);
    return !w.empty() && w.back().param("resourceVersion") == relist_rv && h.server.active_streams(kPods) == 1;
  }));
  h.server.upsert(kPods, pod_json("team-a", "web-10", "10.1.0.100"));
  CHECK(h.wait_has("Pod", "team-a/web-10"));
}

TEST_CASE("410 Gone as an ERROR event: relist", "[kubeapi][source]") {
  Harness h;
  h.seed(2);
  h.start();
  h.wait_synced();
  h.wait_watching();

  h.server.upsert(kPolicies, policy_json("team-a", "missed", "db", 5432), /*record=*/false);
  h.server.expire(kPolicies, FakeApiServer::GoneMode::ErrorEvent);

  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("NetworkPolicy") == 2; }));
  CHECK(h.has("NetworkPolicy", "team-a/missed"));
  CHECK(h.has("NetworkPolicy", "team-a/allow-web"));
  CHECK(h.collector.resyncs("Pod") == 1);
  CHECK(h.collector.logged("watch expired (410 Gone)"));
  // It was the event, not an HTTP status: every policy watch got a 200.
  CHECK_FALSE(h.collector.logged("HTTP 410"));
  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kPolicies) == 1; }));
  h.server.upsert(kPolicies, policy_json("team-a", "later", "db", 5433));
  CHECK(h.wait_has("NetworkPolicy", "team-a/later"));
}

TEST_CASE("410 Gone when the watch's version fell out of the retained history: relist", "[kubeapi][source]") {
  Harness h;
  h.seed(4);
  h.start();
  h.wait_synced();
  h.wait_watching();

  // The server keeps two events per resource. While every request is
  // refused (401) the pod watch is down, and four changes go by: the
  // version it resumes from is compacted away.
  h.server.set_history_limit(2);
  h.server.set_token("only-for-others");
  const size_t watches = h.server.requests(kPods, true).size();
  h.server.cut_streams();
  REQUIRE(h.server.wait_for([&] { return h.server.requests(kPods, true).size() > watches; }));
  h.server.remove(kPods, "team-a/web-0");
  for (int i = 20; i < 23; ++i)
    h.server.upsert(kPods, pod_json("team-a", "web-" + std::to_string(i), "10.1.0." + std::to_string(i)));
  h.server.set_token("");

  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("Pod") == 2; }));
  CHECK(h.collector.logged("HTTP 410"));
  CHECK_FALSE(h.has("Pod", "team-a/web-0"));
  for (int i = 20; i < 23; ++i) CHECK(h.has("Pod", "team-a/web-" + std::to_string(i)));
  CHECK(h.has("Pod", "team-a/web-3"));
  // The other kinds lost no history: they resumed their watches.
  CHECK(h.collector.resyncs("Namespace") == 1);
  CHECK(h.collector.resyncs("NetworkPolicy") == 1);
  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kPods) == 1; }));
  h.server.upsert(kPods, pod_json("team-a", "web-30", "10.1.0.30"));
  CHECK(h.wait_has("Pod", "team-a/web-30"));
}

TEST_CASE("token rotation: the token file is re-read on reconnect", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  const std::string token_file = h.dir.file("token");
  write_file(token_file, "token-1\n");
  h.server.set_token("token-1");
  KubeConfig c = h.config();
  c.token_file = token_file;
  h.start(c, h.options());
  h.wait_synced();
  h.wait_watching();
  for (auto& r : h.server.requests()) CHECK(r.authorization == "Bearer token-1");

  // The server now wants a new token; the file still holds the old one.
  h.server.set_token("token-2");
  const size_t before = h.server.requests().size();
  h.server.cut_streams();
  REQUIRE(h.collector.wait_for([&] { return h.collector.logged("HTTP 401"); }));
  REQUIRE_FALSE(h.has("Pod", "team-a/rotated"));

  // The kubelet rotates the file (atomically): the next attempt uses it.
  write_file(token_file, "token-2\n");
  h.server.upsert(kPods, pod_json("team-a", "rotated", "10.1.0.88"));
  REQUIRE(h.wait_has("Pod", "team-a/rotated"));
  h.wait_watching();

  auto all = h.server.requests();
  bool old_refused = false, new_used = false;
  for (size_t i = before; i < all.size(); ++i) {
    old_refused |= all[i].authorization == "Bearer token-1";
    new_used |= all[i].authorization == "Bearer token-2" && all[i].path == kPods && all[i].watch();
  }
  CHECK(old_refused);
  CHECK(new_used);
  CHECK(h.collector.resyncs("Pod") == 1);  // resumed from its resourceVersion
}

TEST_CASE("a wrong token: no sync, backoff, then sync once the file is right", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  const std::string token_file = h.dir.file("token");
  write_file(token_file, "wrong");
  h.server.set_token("right");
  KubeConfig c = h.config();
  c.token_file = token_file;
  h.start(c, h.options());
  REQUIRE(h.server.wait_for([&] { return h.server.requests(kPods, false).size() >= 3; }));
  CHECK_FALSE(h.source->synced());
  CHECK(h.collector.updates().empty());
  CHECK(h.collector.logged("retrying after backoff"));
  write_file(token_file, "right");
  h.wait_synced();
}

namespace {

size_t count_logs(const Collector& c, const std::string& a, const std::string& b = "") {
  size_t n = 0;
  for (const auto& line : c.logs()) n += line.find(a) != std::string::npos && line.find(b) != std::string::npos;
  return n;
}

// The delay_ms of every "retrying after backoff" line that also holds `also`.
std::vector<long> backoff_delays(const Collector& c, const std::string& also = "") {
  std::vector<long> out;
  for (const auto& line : c.logs()) {
    if (line.find("retrying after backoff") == std::string::npos || line.find(also) == std::string::npos) continue;
    const auto at = line.find("delay_ms=");
    REQUIRE(at != std::string::npos);
    out.push_back(std::stol(line.substr(at + 9)));
  }
  return out;
}

}  // namespace

TEST_CASE("HTTP 403 on one resource: named at once, logged once, cleared by a token fix", "[kubeapi][source][auth]") {
  Harness h;
  h.seed(1);
  const std::string token_file = h.dir.file("token");
  write_file(token_file, "limited");
  h.server.forbid(kPolicies, "limited");
  KubeConfig c = h.config();
  c.token_file = token_file;
  SourceHealth health = h.start_patient_until_unhealthy(c);
  CHECK(health.state == "forbidden");
  CHECK(health.reason ==
        "forbidden: cannot list networkpolicies at cluster scope (HTTP 403): check the ClusterRole bound to the "
        "agent's service account");
  CHECK_FALSE(h.source->synced());
  REQUIRE(h.collector.wait_for([&] { return count_logs(h.collector, "level=error") > 0; }));
  CHECK(count_logs(h.collector, "level=error", "HTTP 403") == 1);
  CHECK(count_logs(h.collector, "level=error", "User \\\"system:serviceaccount") == 1);  // the server's words too

  write_file(token_file, "full");
  h.wait_synced();
  CHECK(h.source->health().ok());
  CHECK(h.collector.logged("accepts the agent's credentials again"));
  CHECK(count_logs(h.collector, "level=error") == 1);
}

TEST_CASE("HTTP 403 retried: one error line however many retries", "[kubeapi][source][auth]") {
  Harness h;
  h.seed(1);
  h.server.forbid(kPolicies, "");
  h.start();
  REQUIRE(h.server.wait_for([&] { return h.server.requests(kPolicies, false).size() >= 4; }));
  CHECK(h.source->health().state == "forbidden");
  CHECK(count_logs(h.collector, "level=error") == 1);
  CHECK(count_logs(h.collector, "level=debug", "retrying after backoff") >= 3);
  CHECK(count_logs(h.collector, "level=warn", "HTTP 403") == 0);
}

TEST_CASE("HTTP 401: unauthorized at once; an inline kubeconfig token is re-read", "[kubeapi][source][auth]") {
  Harness h;
  h.seed(1);
  h.server.set_token("right");
  auto kubeconfig = [&](const std::string& token) {
    write_file(h.dir.file("config"),
               "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {server: '" +
                   h.server.url() + "'}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\nusers:\n- name: u\n"
                   "  user: {token: " + token + "}\n");
  };
  kubeconfig("wrong");
  KubeConfig c;
  REQUIRE(load_kubeconfig(h.dir.file("config"), c));
  SourceHealth health = h.start_patient_until_unhealthy(c);
  CHECK(health.state == "unauthorized");
  INFO(health.reason);
  CHECK(health.reason.find("unauthorized: ") == 0);
  CHECK(health.reason.find("(HTTP 401)") != std::string::npos);
  CHECK(health.reason.find("; ") == std::string::npos);  // said once, not per resource

  kubeconfig("right");
  h.wait_synced();
  CHECK(h.source->health().ok());
}

TEST_CASE("connection failures retry within backoff_max; answered errors back off further", "[kubeapi][source][backoff]") {
  std::unique_ptr<FakeApiServer> server = std::make_unique<FakeApiServer>();
  const int port = server->port();
  Collector collector;
  KubeConfig c;
  c.server = server->url();
  c.origin = "test";
  server.reset();  // nothing listens there now: connections are refused
  ApiSourceOptions o;
  o.backoff_initial = 10ms;
  o.backoff_max = 40ms;
  o.error_backoff_initial = 100ms;
  o.error_backoff_max = 400ms;
  o.log = collector.logger();
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(c, o, source));
  source->start(collector.sink());
  REQUIRE(collector.wait_for([&] { return count_logs(collector, "retrying after backoff", "kind=Pod") >= 6; }));
  const std::vector<long> delays = backoff_delays(collector);
  INFO("delays while refused: " << delays.size());
  for (long d : delays) CHECK(d <= 40);

  // The server back, answering 403: the waits now follow the error schedule.
  server = std::make_unique<FakeApiServer>(port);
  server->forbid(kPolicies, "");
  REQUIRE(collector.wait_for([&] { return server->requests(kPolicies, false).size() >= 4; }));
  const std::vector<long> error_delays = backoff_delays(collector, "HTTP 403");
  REQUIRE(error_delays.size() >= 3);
  CHECK(error_delays[0] >= 50);  // the error schedule's first wait, [d/2, d] of 100 ms
  for (long d : error_delays) CHECK(d <= 400);
  source->stop();
}

TEST_CASE("rejected objects go to errors, the rest is delivered", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.server.upsert(kPolicies, policy_json("team-a", "bad", "web", 80, "10.0.0.0/33"));
  h.start();
  h.wait_synced();
  h.wait_watching();

  CHECK(h.has("NetworkPolicy", "team-a/allow-web"));
  CHECK_FALSE(h.has("NetworkPolicy", "team-a/bad"));
  auto errors = h.collector.errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].object.find("team-a/bad") != std::string::npos);
  CHECK(errors[0].field.find("ipBlock") != std::string::npos);

  // A bad edit on the watch: an error, and the good version stays.
  const std::string good_rv = std::get<NetworkPolicy>([&] {
    for (auto& u : h.collector.updates())
      for (auto& o : u.upserts)
        if (key_of(o) == ObjectKey{"NetworkPolicy", "team-a/allow-web"}) return o;
    return Object{};
  }()).resource_version;
  h.server.upsert(kPolicies, policy_json("team-a", "allow-web", "web", 80, "banana"));
  REQUIRE(h.collector.wait_for([&] { return h.collector.errors().size() == 2; }));
  CHECK(h.has("NetworkPolicy", "team-a/allow-web", good_rv));
  CHECK(h.collector.errors()[1].object.find("team-a/allow-web") != std::string::npos);
}

namespace {

// Whether current_errors() names this object ("Pod team-a/bad").
bool rejects(const ApiSource& source, const std::string& object) {
  for (const ParseError& e : source.current_errors())
    if (e.object == object) return true;
  return false;
}

}  // namespace

TEST_CASE("current_errors: a rejection lasts until the object is fixed, deleted or relisted without it",
          "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.server.upsert(kPods, pod_json("team-a", "bad", "not-an-ip"));
  h.server.upsert(kPolicies, policy_json("team-a", "bad-policy", "web", 80, "10.0.0.0/33"));
  h.start();
  h.wait_synced();
  h.wait_watching();

  // The initial lists' rejections show; nothing else does.
  INFO(h.logs());
  CHECK(rejects(*h.source, "Pod team-a/bad"));
  CHECK(rejects(*h.source, "NetworkPolicy team-a/bad-policy"));
  CHECK(h.source->current_errors().size() == 2);

  // A valid version on the watch clears the pod's error, not the policy's.
  h.server.upsert(kPods, pod_json("team-a", "bad", "10.1.0.50"));
  REQUIRE(h.wait_has("Pod", "team-a/bad"));
  CHECK_FALSE(rejects(*h.source, "Pod team-a/bad"));
  CHECK(rejects(*h.source, "NetworkPolicy team-a/bad-policy"));

  // Broken again on the watch: shown again.
  h.server.upsert(kPods, pod_json("team-a", "bad", "still-not-an-ip"));
  REQUIRE(h.collector.wait_for([&] { return rejects(*h.source, "Pod team-a/bad"); }));

  // Gone while the watch missed it: the relist of pods (without it) clears
  // its error; the relist is of pods only, so the policy's error stays.
  h.server.remove(kPods, "team-a/bad", /*record=*/false);
  h.server.expire(kPods, FakeApiServer::GoneMode::HttpStatus);
  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("Pod") == 2; }));
  CHECK_FALSE(rejects(*h.source, "Pod team-a/bad"));
  CHECK(rejects(*h.source, "NetworkPolicy team-a/bad-policy"));

  // A rejected object deleted on the watch: its error goes.
  h.server.remove(kPolicies, "team-a/bad-policy");
  REQUIRE(h.collector.wait_for([&] { return h.source->current_errors().empty(); }));
}

TEST_CASE("ApiRejections: capped, a known object's error still replaced", "[kubeapi][source]") {
  ApiRejections r;
  SourceUpdate u;
  for (size_t i = 0; i <= ApiRejections::kMax; ++i)
    u.errors.push_back(ParseError{"", "Pod ns/p" + std::to_string(1000 + i), "status.podIP", "first"});
  r.record(u);
  auto now = r.current();
  REQUIRE(now.size() == ApiRejections::kMax);
  CHECK(now.front().object == "Pod ns/p1000");
  CHECK(now.front().message == "first");

  // Full: a new object's error is left out, a known one's is replaced.
  SourceUpdate again;
  again.errors.push_back(ParseError{"", "Pod ns/p1000", "status.podIP", "second"});
  again.errors.push_back(ParseError{"", "Pod ns/p9999", "status.podIP", "new"});
  r.record(again);
  now = r.current();
  CHECK(now.size() == ApiRejections::kMax);
  CHECK(now.front().message == "second");
  CHECK(now.back().object != "Pod ns/p9999");

  // A relist of another kind leaves pods' errors alone; one of pods clears them.
  SourceUpdate policies;
  policies.resync_kind = "NetworkPolicy";
  r.record(policies);
  CHECK(r.current().size() == ApiRejections::kMax);
  SourceUpdate pods;
  pods.resync_kind = "Pod";
  r.record(pods);
  CHECK(r.current().empty());
}

TEST_CASE("an unreadable watch event is reported and the kind relisted", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.start();
  h.wait_synced();
  h.wait_watching();
  h.server.inject_line(kPods, "{this is not json");
  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("Pod") == 2; }));
  auto errors = h.collector.errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("not valid JSON") != std::string::npos);
  CHECK(h.has("Pod", "team-a/web-0"));
}

TEST_CASE("an expired continue token restarts the list from the first page", "[kubeapi][source]") {
  Harness h;
  h.seed(7);
  h.server.expire_next_continue();
  h.start();
  h.wait_synced();
  auto lists = h.server.requests(kPods, false);
  // page 1, page 2 (410), page 1 again, page 2, page 3
  REQUIRE(lists.size() == 5);
  CHECK(lists[2].param("continue").empty());
  CHECK(h.collector.resyncs("Pod") == 1);
  int pods = 0;
  for (auto& [key, rv] : h.collector.state()) pods += key.kind == "Pod";
  CHECK(pods == 7);
}

TEST_CASE("a watch that reaches timeoutSeconds is resumed at once from the same resourceVersion", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  ApiSourceOptions o = h.options();
  o.watch_timeout = 1s;
  h.start(h.config(), o);
  h.wait_synced();
  REQUIRE(h.server.wait_for([&] { return h.server.requests(kPods, true).size() >= 2; }, 5s));
  auto watches = h.server.requests(kPods, true);
  CHECK(watches[0].param("timeoutSeconds") == "1");
  CHECK(watches[1].param("resourceVersion") == watches[0].param("resourceVersion"));
  CHECK(h.collector.resyncs("Pod") == 1);
  CHECK_FALSE(h.collector.logged("retrying after backoff"));
}

TEST_CASE("stop() is prompt during a silent watch", "[kubeapi][source]") {
  Harness h;
  h.seed(1);
  h.start();
  h.wait_synced();
  h.wait_watching();
  const auto t0 = std::chrono::steady_clock::now();
  h.source->stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 1s);
  // Stopped means stopped: changes are no longer delivered.
  const size_t n = h.collector.updates().size();
  h.server.upsert(kPods, pod_json("team-a", "late", "10.1.0.5"));
  std::this_thread::sleep_for(100ms);
  CHECK(h.collector.updates().size() == n);
}

TEST_CASE("stop() is prompt while backing off from an unreachable server", "[kubeapi][source]") {
  std::string dead_url;
  {
    FakeApiServer gone;
    dead_url = gone.url();
  }
  Collector collector;
  ApiSourceOptions o;
  o.backoff_initial = 5s;
  o.backoff_max = 10s;
  o.log = collector.logger();
  KubeConfig c;
  c.server = dead_url;
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(c, o, source));
  source->start(collector.sink());
  REQUIRE(collector.wait_for([&] { return collector.logged("retrying after backoff"); }));
  const auto t0 = std::chrono::steady_clock::now();
  source->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK_FALSE(source->synced());
}

TEST_CASE("ApiSource::create rejects a bad server URL", "[kubeapi][source]") {
  KubeConfig c;
  c.server = "10.0.0.1:6443";
  std::unique_ptr<ApiSource> source;
  Status s = ApiSource::create(c, {}, source);
  CHECK_FALSE(s);
  CHECK(s.message().find("not an http:// or https:// URL") != std::string::npos);
}

// ClusterNetworkPolicy is a CRD: served only where it is installed.

TEST_CASE("ClusterNetworkPolicy served: listed, watched, resumed after a cut, relisted after 410",
          "[kubeapi][source][cnp]") {
  Harness h;
  h.seed(1);
  h.server.set_served(kClusterPolicies, true);
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-metadata", 1, "169.254.169.254/32"));
  h.start();
  h.wait_synced();
  CHECK(h.has("ClusterNetworkPolicy", "deny-metadata"));
  CHECK(h.collector.resyncs("ClusterNetworkPolicy") == 1);
  CHECK(h.source->notes().empty());
  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kClusterPolicies) == 1; }));

  // Watch events: added, modified, deleted.
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-other", 2, "10.9.0.0/16"));
  REQUIRE(h.wait_has("ClusterNetworkPolicy", "deny-other"));
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-other", 3, "10.9.0.0/16"));
  REQUIRE(h.wait_has("ClusterNetworkPolicy", "deny-other", h.rv_now()));
  h.server.remove(kClusterPolicies, "deny-other");
  REQUIRE(h.collector.wait_for([&] { return !h.has("ClusterNetworkPolicy", "deny-other"); }));

  // A bookmark, then the stream cut in the middle of the next event: the
  // watch resumes from the bookmark, the event arrives whole, no relist.
  const uint64_t mark = h.server.bookmark(kClusterPolicies);
  h.server.cut_next_event(kClusterPolicies);
  h.server.upsert(kClusterPolicies, cluster_policy_json("after-bookmark", 4, "10.7.0.0/16"));
  REQUIRE(h.wait_has("ClusterNetworkPolicy", "after-bookmark"));
  auto watches = h.server.requests(kClusterPolicies, true);
  REQUIRE(watches.size() == 2);
  CHECK(watches[1].param("resourceVersion") == std::to_string(mark));
  CHECK(h.collector.resyncs("ClusterNetworkPolicy") == 1);

  // 410 Gone: relist, which sees what the watch missed.
  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kClusterPolicies) == 1; }));
  h.server.upsert(kClusterPolicies, cluster_policy_json("missed", 5, "10.8.0.0/16"), /*record=*/false);
  h.server.expire(kClusterPolicies, FakeApiServer::GoneMode::ErrorEvent);
  REQUIRE(h.collector.wait_for([&] { return h.collector.resyncs("ClusterNetworkPolicy") == 2; }));
  CHECK(h.has("ClusterNetworkPolicy", "missed"));
  CHECK(h.has("ClusterNetworkPolicy", "deny-metadata"));
  CHECK(h.source->health().ok());
}

TEST_CASE("ClusterNetworkPolicy not served (404): synced without it, noted, logged once; the CRD installed later "
          "is picked up, and removed again is noted again",
          "[kubeapi][source][cnp]") {
  Harness h;
  h.seed(1);
  h.start();
  h.wait_synced();
  h.wait_watching();
  // The agent runs: healthy, every other kind listed.
  CHECK(h.source->health().ok());
  CHECK(h.has("NetworkPolicy", "team-a/allow-web"));
  auto notes = h.source->notes();
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("ClusterNetworkPolicy: not served by the API server") == 0);
  CHECK(notes[0].find("HTTP 404") != std::string::npos);
  CHECK(notes[0].find("policy.networking.k8s.io/v1alpha2 CRD") != std::string::npos);
  CHECK(h.collector.errors().empty());

  // Looked for again and again (absent_recheck), said once.
  REQUIRE(h.server.wait_for([&] { return h.server.requests(kClusterPolicies, false).size() >= 3; }));
  auto count_logged = [&](const std::string& needle) {
    int n = 0;
    for (const auto& l : h.collector.logs()) n += l.find(needle) != std::string::npos;
    return n;
  };
  CHECK(count_logged("kind not served by the API server") == 1);
  // Each look that finds nothing delivers nothing: no resync every 30 s.
  CHECK(h.collector.resyncs("ClusterNetworkPolicy") == 1);

  // The CRD is installed and a policy created: picked up, then watched.
  h.server.set_served(kClusterPolicies, true);
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-metadata", 1, "169.254.169.254/32"));
  REQUIRE(h.wait_has("ClusterNetworkPolicy", "deny-metadata"));
  CHECK(h.source->notes().empty());
  CHECK(h.collector.logged("kind served by the API server now"));
  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kClusterPolicies) == 1; }));
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-other", 2, "10.9.0.0/16"));
  REQUIRE(h.wait_has("ClusterNetworkPolicy", "deny-other"));

  // The CRD deleted (its objects with it): the watch ends, the list gets
  // 404, the objects go and the note is back, logged a second time only.
  h.server.set_served(kClusterPolicies, false);
  REQUIRE(h.collector.wait_for([&] {
    return !h.has("ClusterNetworkPolicy", "deny-metadata") && !h.has("ClusterNetworkPolicy", "deny-other");
  }));
  REQUIRE(h.collector.wait_for([&] { return h.source->notes().size() == 1; }));
  CHECK(count_logged("kind not served by the API server") == 2);
  CHECK(h.source->health().ok());
  CHECK(h.has("Pod", "team-a/web-0"));
}

TEST_CASE("ClusterNetworkPolicy rejected: the error names object and field, the last good version stays",
          "[kubeapi][source][cnp]") {
  Harness h;
  h.seed(1);
  h.server.set_served(kClusterPolicies, true);
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-metadata", 1, "169.254.169.254/32"));
  h.server.upsert(kClusterPolicies, cluster_policy_json("listed-bad", 2, "10.0.0.0/33"));
  h.start();
  h.wait_synced();
  CHECK(h.has("ClusterNetworkPolicy", "deny-metadata"));
  CHECK_FALSE(h.has("ClusterNetworkPolicy", "listed-bad"));
  REQUIRE(rejects(*h.source, "ClusterNetworkPolicy listed-bad"));
  const std::string good_rv = h.collector.state().at(ObjectKey{"ClusterNetworkPolicy", "deny-metadata"});

  REQUIRE(h.server.wait_for([&] { return h.server.active_streams(kClusterPolicies) == 1; }));
  h.server.upsert(kClusterPolicies, cluster_policy_json("deny-metadata", 1, "banana"));
  REQUIRE(h.collector.wait_for([&] { return rejects(*h.source, "ClusterNetworkPolicy deny-metadata"); }));
  CHECK(h.has("ClusterNetworkPolicy", "deny-metadata", good_rv));
  for (const ParseError& e : h.source->current_errors()) {
    if (e.object != "ClusterNetworkPolicy deny-metadata") continue;
    CHECK(e.field == "spec.egress[0].to[0].networks[0]");
    CHECK(e.message.find("banana") != std::string::npos);
  }
  CHECK(h.collector.logged("object rejected; its last good version stays in force"));
}
