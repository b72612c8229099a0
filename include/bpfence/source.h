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
  std::string kind;  // "Namespace", "Pod", "NetworkPolicy"
  std::string key;   // "name" for namespaces, "namespace/name" otherwise
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
};

using UpdateSink = std::function<void(SourceUpdate)>;

class Source {
 public:
  virtual ~Source() = default;
  // Starts delivering updates on a thread of the source's own. The first
  // deliveries form the initial state; synced() turns true after them.
  virtual void start(UpdateSink sink) = 0;
  virtual void stop() = 0;
  virtual bool synced() const = 0;
  virtual std::string describe() const = 0;
  // Empty while the source reaches its inputs; otherwise why it does not
  // (the API server unreachable for a while, say). Thread-safe. The state
  // last delivered stays in force meanwhile; the agent reports it not ready.
  virtual std::string health() const { return ""; }
  // The inputs rejected right now (not a history): what /v1/status shows as
  // errors. An error leaves once its input is fixed, deleted or gone from a
  // relist. Thread-safe: the agent reads it while the source delivers.
  virtual std::vector<ParseError> current_errors() const = 0;
};

}  // namespace bpfence
