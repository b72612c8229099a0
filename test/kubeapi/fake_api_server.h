// A local stand-in for the Kubernetes API server, for the API client tests:
// httplib::Server (or SSLServer) on 127.0.0.1, an ephemeral port, speaking
// the list/watch protocol of Namespaces, Pods, NetworkPolicies and
// ClusterNetworkPolicies (a CRD: not served until set_served() installs it).
//
// It keeps objects and an event log per resource with a global
// resourceVersion counter (like etcd), serves paginated lists (limit /
// continue) and chunked watch streams (resume from resourceVersion,
// bookmarks). Like a real API server it retains a bounded history: the
// oldest events beyond history_limit() per resource are compacted away
// (watches from before them get 410; a stream that falls that far behind
// ends, its client rewatches and gets 410). Writes are cheap and do not
// wait behind other resources: each resource has its own lock, held only
// to publish an event encoded outside it (a benchmark times its own
// writes). It lets a test break things on purpose: compact a resource
// (410 Gone as an HTTP status or as an ERROR event), cut streams abruptly
// (optionally in the middle of an event), end them cleanly, expire continue
// tokens, rotate the accepted bearer token, forbid a resource to a token.
// Every request is recorded.
//
// Only GET is answered (anything else: 405, before httplib reads a body).
#pragma once

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace bpfence::test {

inline const std::string kNamespaces = "/api/v1/namespaces";
inline const std::string kPods = "/api/v1/pods";
inline const std::string kPolicies = "/apis/networking.k8s.io/v1/networkpolicies";
inline const std::string kClusterPolicies = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies";

struct RecordedRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  std::string authorization;
  bool watch() const { return params.count("watch") > 0; }
  std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? "" : it->second;
  }
};

class FakeApiServer {
 public:
  // How an expired resourceVersion is reported on watch.
  enum class GoneMode { HttpStatus, ErrorEvent };

  // Plain HTTP, on an ephemeral port or on `port` (a server "restarted"
  // where the last one listened).
  FakeApiServer();
  explicit FakeApiServer(int port);
  // HTTPS with this certificate and key (not owned; httplib takes references).
  // With `client_ca` (owned from here on) clients must present a certificate
  // it verifies.
  FakeApiServer(X509* cert, EVP_PKEY* key, X509_STORE* client_ca = nullptr);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  int port() const { return port_; }
  std::string url() const;

  // Changes the state. With `record` false the change leaves no watch event
  // (as if compacted away): only a relist can see it.
  void upsert(const std::string& path, nlohmann::json object, bool record = true);
  void remove(const std::string& path, const std::string& key, bool record = true);
  // A BOOKMARK event carrying a fresh resourceVersion.
  uint64_t bookmark(const std::string& path);
  // Writes a raw line (plus newline) into the path's streams, as an event.
  void inject_line(const std::string& path, const std::string& line);

  // How many watch events each resource retains (default
  // kDefaultHistoryLimit); older ones are compacted as they fall out.
  static constexpr size_t kDefaultHistoryLimit = 10000;
  void set_history_limit(size_t events);
  size_t history_limit() const { return history_limit_; }

  // Compacts the path's history: watches from an older resourceVersion get
  // 410. Active streams end cleanly (HttpStatus) or get an ERROR event.
  void expire(const std::string& path, GoneMode mode);
  // Active streams (all paths) end abruptly, without the final chunk.
  void cut_streams();
  // The first event written on `path` from now on (not one already in the
  // log) is written half, then the stream is cut.
  void cut_next_event(const std::string& path);
  // Active streams end cleanly, as when timeoutSeconds is reached.
  void end_streams();
  // The next list request with a continue token gets 410.
  void expire_next_continue();
  // Write each event line in three chunks, so lines are split across reads.
  void set_split_events(bool on);
  // Accept only this bearer token ("" accepts any request).
  void set_token(const std::string& token);
  // Requests for `path` with this bearer token get 403, as from a service
  // account whose ClusterRole lacks the resource ("" for every token).
  void forbid(const std::string& path, const std::string& token);
  // Installs (true) or removes (false) the CRD behind `path`: unserved, every
  // request gets 404 as from a real server without the CRD, its objects are
  // gone and its watches end. Only kClusterPolicies starts unserved.
  void set_served(const std::string& path, bool served);

  uint64_t resource_version() const;
  std::vector<RecordedRequest> requests() const;
  std::vector<RecordedRequest> requests(const std::string& path, bool watch) const;
  int active_streams(const std::string& path) const;
  // Waits (up to `timeout`) until pred() holds; pred may call the getters.
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Event {
    uint64_t rv;
    std::string type;
    std::shared_ptr<const std::string> line;  // the serialized event, without newline
  };
  // A list's items, shared by its pages (continue tokens).
  using Snapshot = std::vector<std::shared_ptr<const nlohmann::json>>;
  // State per resource. `write_mu` serializes the writers of the resource
  // (so events are published in resourceVersion order) and is held while
  // an event is encoded; `mu` guards the rest and is held only briefly, so
  // watch streams and lists never wait behind an encoding.
  struct Resource {
    Resource(std::string kind, std::string api_version) : kind(std::move(kind)), api_version(std::move(api_version)) {}
    const std::string kind, api_version;
    std::mutex write_mu;
    std::mutex mu;
    std::condition_variable cv;  // a change for the resource's streams
    // As list items: without kind and apiVersion.
    std::map<std::string, std::shared_ptr<const nlohmann::json>> objects;  // by key
    std::deque<Event> log;
    uint64_t log_base = 0;    // the absolute index of log.front()
    uint64_t pending_rv = 0;  // a write holds this rv, not yet published (0: none)
    uint64_t compacted = 0;   // watches from rv < compacted get 410
    GoneMode gone_mode = GoneMode::HttpStatus;
    uint64_t expire_generation = 0;
    uint64_t cut_from = 0;  // cut at the first event with rv >= this (0: none)
    std::map<uint64_t, std::shared_ptr<const Snapshot>> snapshots;  // list rv -> items
    bool served = true;
  };
  struct Stream;

  void setup(int port = 0);
  Resource& resource(const std::string& path) const { return *resources_.at(path); }
  void handle(const httplib::Request& req, httplib::Response& res, const std::string& path);
  // Both called under r.mu (`lock`); a list releases it to encode its page.
  void handle_list(const httplib::Request& req, httplib::Response& res, Resource& r, std::unique_lock<std::mutex>& lock);
  void handle_watch(const httplib::Request& req, httplib::Response& res, const std::string& path, Resource& r);
  // Under r.mu: appends an event and compacts what falls out of the history.
  void publish(Resource& r, uint64_t rv, std::string type, std::string line);
  // Wakes every resource's streams (a global control changed).
  void wake_all_streams();
  static std::string status_json(int code, const std::string& reason, const std::string& message);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;

  // Fixed after setup(); each Resource guards itself.
  std::map<std::string, std::unique_ptr<Resource>> resources_;
  std::atomic<uint64_t> rv_{100};
  std::atomic<size_t> history_limit_{kDefaultHistoryLimit};
  std::atomic<uint64_t> cut_generation_{0};
  std::atomic<uint64_t> end_generation_{0};
  std::atomic<bool> split_events_{false};
  std::atomic<bool> stopping_{false};

  // Requests, authorization and stream counts (per request, not per event).
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool expire_next_continue_ = false;
  std::string token_;
  std::set<std::pair<std::string, std::string>> forbidden_;  // (path, token or "")
  std::vector<RecordedRequest> requests_;
  std::map<std::string, int> active_;
};

}  // namespace bpfence::test
