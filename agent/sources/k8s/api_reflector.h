// The list-then-watch loop for one resource (client-go calls this a
// reflector). It owns no thread: ApiSource runs one per resource on a
// std::jthread and stops it through the stop_token plus ApiClient::interrupt().
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "api_backoff.h"
#include "api_client.h"
#include "api_source.h"
#include "api_watch_decoder.h"

namespace bpfence {

class Reflector {
 public:
  // `deliver(update, initial)`: `initial` is true for the first complete
  // list only (it counts towards ApiSource::synced()).
  using Deliver = std::function<void(SourceUpdate, bool initial)>;
  using Log = std::function<void(std::string_view)>;

  Reflector(ApiResource resource, ApiClient& client, const ApiSourceOptions& options, Deliver deliver, Log log);

  // Lists and watches until `stop` is requested.
  void run(std::stop_token stop);

  // Whether the last exchange with the server worked (thread-safe). `since`:
  // when the current run of failures began.
  struct Health {
    bool ok = true;
    std::string state;  // SourceHealth::state of the last failure
    std::string error;
    std::chrono::steady_clock::time_point since{};
  };
  Health health() const;
  // For an optional resource the server does not serve (404): what
  // ApiSource::notes() says; "" while it is served (thread-safe).
  std::string absent_note() const;

 private:
  enum class WatchEnd { Closed, Gone, Failed, Stopped };
  // Why the last list or watch failed.
  struct Failure {
    std::string state;    // "unreachable", "error", "unauthorized", "forbidden"
    std::string message;  // for /readyz: what failed, and for 401/403 what to check
    std::string detail;   // the server's own words, for the log
  };
  Failure failure_of(const ApiResponse& response, const std::string& verb) const;

  // One full LIST, all pages: delivers a resync update, sets resource_version_.
  // An optional resource answered 404: ok, with absent_ set (see absent()).
  Status list(std::stop_token stop);
  // The optional resource is not served: says so once, and delivers an
  // empty list when it was served before (or never listed), since a CRD's
  // removal takes its objects with it.
  void absent(const ApiResponse& response);
  // One WATCH from resource_version_ until the server ends it or it fails.
  WatchEnd watch(std::stop_token stop);
  // Turns a batch of events into updates; returns Gone on an ERROR 410.
  std::optional<WatchEnd> apply(std::vector<WatchEvent>& events, std::vector<std::string>& errors, bool& got_event);
  // Records failure_, then waits out the backoff for its kind; false when
  // stopped meanwhile.
  bool fail(std::stop_token stop);
  // Waits out `backoff`; after refused credentials, also wakes as soon as
  // the file they come from changes. False when stopped meanwhile.
  bool pause(std::stop_token stop, Backoff& backoff, const std::string& why, bool auth = false);
  void set_ok();
  void set_failed(const Failure& failure);
  void info(const std::string& msg, const std::string& extra = "");
  void warn(const std::string& msg, const std::string& extra = "");

  ApiResource resource_;
  ApiClient& client_;
  const ApiSourceOptions& options_;
  Deliver deliver_;
  Log log_;
  // Connection failures wait little (the server may be back any moment, and
  // a refused connection costs it nothing); errors it answers wait longer.
  Backoff reconnect_backoff_;
  Backoff error_backoff_;
  Failure failure_;              // set by list() and watch() when they fail
  std::string reported_auth_;    // the 401/403 last logged at error level
  std::string resource_version_;
  bool listed_once_ = false;
  bool watch_saw_events_ = false;  // the last watch delivered a change
  bool absent_ = false;            // the last list of an optional resource got 404
  WatchStreamDecoder decoder_;
  mutable std::mutex health_mutex_;
  Health health_;
  std::string absent_note_;  // guarded by health_mutex_
  std::mutex sleep_mutex_;
  std::condition_variable_any sleep_cv_;
};

// The store key of an API object from its metadata: "name" for namespaces,
// "namespace/name" otherwise. Empty when metadata.name is missing.
std::string api_object_key(const ApiResource& resource, const nlohmann::json& object);

}  // namespace bpfence
