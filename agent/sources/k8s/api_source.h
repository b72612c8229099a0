// The Kubernetes API as a Source: for Namespaces, Pods, NetworkPolicies and
// ClusterNetworkPolicies, LIST (paginated) then WATCH, forever, one thread
// per resource.
//
// Each complete list is one SourceUpdate with resync_kind set; watch events
// follow as small updates. Watches resume from the last resourceVersion seen
// (bookmarks included), relist on 410 Gone, and reconnect with capped,
// jittered exponential backoff (short for lost connections, longer for
// errors the server answers); the token is re-read on every request, and
// after a 401/403 as soon as its file changes.
// ClusterNetworkPolicy is optional: its CRD may not be installed. A 404 on
// its list counts as an empty list (the agent runs without the kind, and
// notes() says so); the list is tried again every `absent_recheck`, so a
// CRD installed later is picked up without a restart.
// The last of the initial lists (a 404 counts) is the synced event (marked
// synced); synced() turns true once it has been delivered.
// current_errors() holds the rejections of the updates delivered so far
// that still hold (see api_rejections.h).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api_rejections.h"
#include "bpfence/source.h"
#include "kubeconfig.h"

namespace bpfence {

// One kind bpfence lists and watches.
struct ApiResource {
  std::string kind;         // "Pod"
  std::string api_version;  // "v1"
  std::string path;         // "/api/v1/pods" (all namespaces)
  // Served only when a CRD is installed: a 404 means "none of these"
  // (the agent runs without the kind) rather than a broken server.
  bool optional = false;
  std::string group;  // what to install, for the note: "policy.networking.k8s.io/v1alpha2"
};

// Namespaces, Pods, NetworkPolicies, ClusterNetworkPolicies (optional): the
// resources ApiSource watches.
const std::vector<ApiResource>& api_resources();

struct ApiSourceOptions {
  int page_limit = 500;                       // LIST ?limit=
  std::chrono::seconds watch_timeout{300};    // WATCH ?timeoutSeconds=
  // Silence allowed on a watch beyond watch_timeout before the client gives
  // up on the connection (httplib's default read timeout is only 5 s).
  std::chrono::seconds watch_read_margin{30};
  std::chrono::seconds list_read_timeout{60};
  std::chrono::seconds connect_timeout{10};
  // Waits between attempts (doubling from initial to max, each a random
  // time in [d/2, d]: api_backoff.h). No connection: the server may be back
  // any moment and a refused connection costs it nothing, so the wait stays
  // under a second and the agent is back within ~1 s of the server's return.
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{1000};
  // The server answered with an error (401, 403, 429, 5xx...): it is up but
  // will not serve us, and retrying fast only adds to its load.
  std::chrono::milliseconds error_backoff_initial{1000};
  std::chrono::milliseconds error_backoff_max{8000};
  // health() reports a resource whose requests have failed for this long
  // (one dropped watch that reconnects at once is routine, not unhealthy).
  // Refused credentials (401, 403) are reported at once.
  std::chrono::milliseconds unhealthy_after{3000};
  // An optional kind the server does not serve (no CRD): how often to look
  // again. A CRD is installed once per cluster, and a 404 costs the server
  // nothing, but half a minute is as long as an operator waits for an
  // `kubectl apply` to show.
  std::chrono::milliseconds absent_recheck{30000};
  // Where log lines go (one `level=... msg="..."` line per call); stderr when unset.
  std::function<void(std::string_view)> log;
};

class ApiClient;

class ApiSource : public Source {
 public:
  // Fails (with the reason) when the config cannot be turned into a client:
  // bad server URL, unreadable client certificate.
  static Status create(const KubeConfig& config, ApiSourceOptions options, std::unique_ptr<ApiSource>& out);
  ~ApiSource() override;

  void start(UpdateSink sink) override;
  // Aborts requests in flight and joins the threads; prompt even in the
  // middle of a silent watch.
  void stop() override;
  bool synced() const override { return synced_.load(); }
  std::string describe() const override;
  // ok(), "kubernetes api ... unreachable for 12s (Pod: watch /api/v1/pods:
  // connection: Connection)", or refused credentials ("forbidden: cannot
  // list networkpolicies at cluster scope (HTTP 403): check the ClusterRole
  // bound to the agent's service account").
  SourceHealth health() const override;
  std::vector<ParseError> current_errors() const override { return rejections_.current(); }
  // "ClusterNetworkPolicy: not served by the API server (HTTP 404: ...)"
  // for each optional kind the server does not serve now.
  std::vector<std::string> notes() const override;

 private:
  struct Worker;
  ApiSource(KubeConfig config, ApiSourceOptions options);
  void deliver(SourceUpdate update, bool initial_list);
  void log(std::string_view line) const;

  KubeConfig config_;
  ApiSourceOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex sink_mutex_;  // the sink sees one update at a time
  UpdateSink sink_;
  int initial_lists_ = 0;  // guarded by sink_mutex_
  ApiRejections rejections_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> reflectors_ready_{false};  // health() may read workers' reflectors
  bool started_ = false;
};

}  // namespace bpfence
