// A Source that can tell which of its inputs are rejected right now (the
// manifest source: per file). The agent shows these in /v1/status instead
// of a history of errors from past updates.
#pragma once

#include <vector>

#include "bpfence/parse.h"

namespace bpfence {

class SourceErrors {
 public:
  virtual ~SourceErrors() = default;
  virtual std::vector<ParseError> current_errors() const = 0;
};

}  // namespace bpfence
