// Where cluster objects come from: manifest files (watched with inotify) or
// the Kubernetes API (list + watch). Both hand the agent SourceUpdates;
// nothing downstream knows which source produced them.
#pragma once

#include <compare>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bpfence/parse.h"

namespace bpfence {

struct ObjectKey {
  std::string kind;  // "Namespace", "Pod", "NetworkPolicy", "ClusterNetworkPolicy"
  std::string key;   // "name" for cluster-scoped kinds, "namespace/name" otherwise
  auto operator<=>(const ObjectKey&) const = default;
};

ObjectKey key_of(const Object& object);

struct SourceUpdate {
  // Set when this update lists every object of that kind (a relist): the
  // store drops objects of the kind that are not in `upserts`.
  std::optional<std::string> resync_kind;
  std::vector<Object> upserts;
  std::vector<ObjectKey> deletes;
  // Rejected objects. The store keeps the last good version of each.
  std::vector<ParseError> errors;
  // The synced event: this update completes the source's initial state.
  // It travels in order with the updates, so whoever takes it has taken
  // the whole initial state (a flag polled beside the updates could be
  // seen before them).
  bool synced = false;
};

using UpdateSink = std::function<void(SourceUpdate)>;

// Whether a source reaches its inputs right now.
struct SourceHealth {
  // "" while it does; otherwise a short label for metrics and scripts:
  // "unreachable" (no connection), "error" (the server answers errors),
  // "unauthorized" (HTTP 401: credentials refused), "forbidden" (HTTP 403:
  // the credentials may not read a resource).
  std::string state;
  // What an operator reads: what failed and what to check.
  std::string reason;
  bool ok() const { return state.empty(); }
  // Refused credentials: nothing will work until someone fixes them.
  bool auth() const { return state == "unauthorized" || state == "forbidden"; }
  bool operator==(const SourceHealth&) const = default;
};

class Source {
 public:
  virtual ~Source() = default;
  // Starts delivering updates on a thread of the source's own. The first
  // deliveries form the initial state; the last of them is marked `synced`,
  // and synced() turns true once it was delivered.
  virtual void start(UpdateSink sink) = 0;
  virtual void stop() = 0;
  virtual bool synced() const = 0;
  virtual std::string describe() const = 0;
  // ok() while the source reaches its inputs; otherwise why it does not
  // (the API server unreachable for a while, the agent's credentials
  // refused). Thread-safe. The state last delivered stays in force
  // meanwhile; the agent reports it not ready.
  virtual SourceHealth health() const { return {}; }
  // The inputs rejected right now (not a history): what /v1/status shows as
  // errors. An error leaves once its input is fixed, deleted or gone from a
  // relist. Thread-safe: the agent reads it while the source delivers.
  virtual std::vector<ParseError> current_errors() const = 0;
  // What the source runs without right now, in words, while healthy: an
  // optional kind the API server does not serve (its CRD not installed).
  // Not errors: nothing is rejected, and the agent is ready. Thread-safe.
  virtual std::vector<std::string> notes() const { return {}; }
};

}  // namespace bpfence
