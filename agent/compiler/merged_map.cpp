#include "merged_map.h"

#include <climits>

namespace bpfence {

std::vector<RuleRefs::Ref>& RuleRefs::own() {
  if (!rest_)
    rest_ = std::make_shared<std::vector<Ref>>();
  else if (rest_.use_count() > 1)
    rest_ = std::make_shared<std::vector<Ref>>(*rest_);
  return *rest_;
}

void RuleRefs::add(uint32_t rule, int delta) {
  if (empty()) {
    if (delta > 0) first_ = {rule, delta};
    return;
  }
  if (rule == first_.first) {
    if ((first_.second += delta) > 0) return;
    // The smallest rule is gone: the next one moves inline.
    if (!rest_ || rest_->empty()) {
      first_ = {0, 0};
    } else {
      std::vector<Ref>& rest = own();
      first_ = rest.front();
      rest.erase(rest.begin());
    }
  } else if (rule < first_.first) {
    if (delta <= 0) return;
    std::vector<Ref>& rest = own();
    rest.insert(rest.begin(), first_);
    first_ = {rule, delta};
  } else {
    if (!rest_ && delta <= 0) return;
    size_t at = 0;
    if (rest_) at = std::lower_bound(rest_->begin(), rest_->end(), Ref{rule, INT32_MIN}) - rest_->begin();
    if (!rest_ || at == rest_->size() || (*rest_)[at].first != rule) {
      if (delta <= 0) return;
      std::vector<Ref>& rest = own();
      rest.insert(rest.begin() + at, {rule, 0});
    }
    std::vector<Ref>& rest = own();
    if ((rest[at].second += delta) <= 0) rest.erase(rest.begin() + at);
  }
  if (rest_ && rest_->empty()) rest_.reset();
}

}  // namespace bpfence
