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
    std::string error;
    std::chrono::steady_clock::time_point since{};
  };
  Health health() const;

 private:
  enum class WatchEnd { Closed, Gone, Failed, Stopped };

  // One full LIST, all pages: delivers a resync update, sets resource_version_.
  Status list(std::stop_token stop);
  // One WATCH from resource_version_ until the server ends it or it fails.
  WatchEnd watch(std::stop_token stop);
  // Turns a batch of events into updates; returns Gone on an ERROR 410.
  std::optional<WatchEnd> apply(std::vector<WatchEvent>& events, std::vector<std::string>& errors, bool& got_event);
  // Waits out the backoff; false when stopped meanwhile.
  bool pause(std::stop_token stop, const std::string& why);
  void set_ok();
  void set_failed(const std::string& error);
  void info(const std::string& msg, const std::string& extra = "");
  void warn(const std::string& msg, const std::string& extra = "");

  ApiResource resource_;
  ApiClient& client_;
  const ApiSourceOptions& options_;
  Deliver deliver_;
  Log log_;
  Backoff backoff_;
  std::string resource_version_;
  bool listed_once_ = false;
  bool watch_saw_events_ = false;  // the last watch delivered a change
  WatchStreamDecoder decoder_;
  std::string watch_error_;  // why the last watch failed
  mutable std::mutex health_mutex_;
  Health health_;
  std::mutex sleep_mutex_;
  std::condition_variable_any sleep_cv_;
};

// The store key of an API object from its metadata: "name" for namespaces,
// "namespace/name" otherwise. Empty when metadata.name is missing.
std::string api_object_key(const ApiResource& resource, const nlohmann::json& object);

}  // namespace bpfence
