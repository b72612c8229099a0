// ApiRejections: the current rejections, keyed by the object they name.
#include "api_rejections.h"

namespace bpfence {

void ApiRejections::record(const SourceUpdate& u) {
  std::lock_guard lock(mutex_);
  if (u.resync_kind) {
    const std::string prefix = *u.resync_kind + " ";
    std::erase_if(by_object_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  }
  for (const Object& o : u.upserts) {
    ObjectKey k = key_of(o);
    by_object_.erase(k.kind + " " + k.key);
  }
  for (const ObjectKey& k : u.deletes) by_object_.erase(k.kind + " " + k.key);
  for (const ParseError& e : u.errors)
    if (by_object_.size() < kMax || by_object_.count(e.object)) by_object_[e.object] = e;
}

std::vector<ParseError> ApiRejections::current() const {
  std::lock_guard lock(mutex_);
  std::vector<ParseError> out;
  out.reserve(by_object_.size());
  for (const auto& [object, e] : by_object_) out.push_back(e);
  return out;
}

}  // namespace bpfence
