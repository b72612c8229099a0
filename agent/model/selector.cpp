// metav1.LabelSelector matching: matchLabels AND every matchExpression.
#include <algorithm>

#include "bpfence/model.h"

namespace bpfence {

static bool requirement_matches(const LabelRequirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  bool has = it != labels.end();
  auto in_values = [&] {
    return has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  };
  switch (r.op) {
    case LabelRequirement::Op::In: return in_values();
    case LabelRequirement::Op::NotIn: return !in_values();  // a missing key is "not in"
    case LabelRequirement::Op::Exists: return has;
    case LabelRequirement::Op::DoesNotExist: return !has;
  }
  return false;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions)
    if (!requirement_matches(r, labels)) return false;
  return true;
}

}  // namespace bpfence
