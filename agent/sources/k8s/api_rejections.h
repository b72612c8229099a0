// The objects the Kubernetes API source rejects right now, for
// Source::current_errors(): the API has no files to re-read, so the source
// keeps the errors of the updates it delivered and drops each one when it
// no longer holds. Thread-safe: the watch threads record, the agent reads.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bpfence/source.h"

namespace bpfence {

class ApiRejections {
 public:
  // At most this many are kept (a cluster full of objects the parser
  // rejects must not grow the status without bound); a known object's error
  // is still replaced.
  static constexpr size_t kMax = 200;

  // Applies one delivered update: a relist of a kind drops that kind's
  // errors, an accepted or deleted object drops its own, then the update's
  // errors are added.
  void record(const SourceUpdate& update);
  // Sorted by object ("NetworkPolicy ns/name").
  std::vector<ParseError> current() const;

 private:
  mutable std::mutex mutex_;
  // By ParseError::object: "Kind key", or "Kind watch /path" for an
  // unreadable watch event (dropped by the next relist of the kind).
  std::map<std::string, ParseError> by_object_;
};

}  // namespace bpfence
