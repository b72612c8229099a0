// Errors as values: a Status the caller must look at, carrying a message that
// names the object and field. Exceptions stay at the edges (parsing, main).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace bpfence {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return {}; }
  static Status error(std::string message) {
    Status s;
    s.error_ = std::move(message);
    return s;
  }
  bool is_ok() const { return !error_; }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const {
    static const std::string empty;
    return error_ ? *error_ : empty;
  }

 private:
  std::optional<std::string> error_;
};

}  // namespace bpfence
