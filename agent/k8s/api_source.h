// The Kubernetes API as a Source: for Namespaces, Pods and NetworkPolicies,
// LIST (paginated) then WATCH, forever, one thread per resource.
//
// Each complete list is one SourceUpdate with resync_kind set; watch events
// follow as small updates. Watches resume from the last resourceVersion seen
// (bookmarks included), relist on 410 Gone, and reconnect with capped,
// jittered exponential backoff; the token file is re-read on every request.
// synced() turns true once all three initial lists have been delivered.
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
};

// Namespaces, Pods, NetworkPolicies: the resources ApiSource watches.
const std::vector<ApiResource>& api_resources();

struct ApiSourceOptions {
  int page_limit = 500;                       // LIST ?limit=
  std::chrono::seconds watch_timeout{300};    // WATCH ?timeoutSeconds=
  // Silence allowed on a watch beyond watch_timeout before the client gives
  // up on the connection (httplib's default read timeout is only 5 s).
  std::chrono::seconds watch_read_margin{30};
  std::chrono::seconds list_read_timeout{60};
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{30000};
  // health() reports a resource whose requests have failed for this long
  // (one dropped watch that reconnects at once is routine, not unhealthy).
  std::chrono::milliseconds unhealthy_after{3000};
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
  // "" or "kubernetes api unreachable for 12s (Pod: watch /api/v1/pods: connection: Connection)".
  std::string health() const override;
  std::vector<ParseError> current_errors() const override { return rejections_.current(); }

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
