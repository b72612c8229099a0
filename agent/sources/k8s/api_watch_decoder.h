// Decodes the body of a Kubernetes watch response: newline-delimited JSON,
// one event per line ({"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
// "object": {...}}), arriving in chunks that may split a line anywhere.
//
// Pure (bytes in, events out, no I/O) so it can be unit-tested and fuzzed on
// its own. A malformed line becomes an error and decoding continues with the
// next line; a line longer than the limit is dropped whole, so a hostile or
// broken server cannot make the agent buffer without bound.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bpfence {

struct WatchEvent {
  enum class Type { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  nlohmann::json object;  // always a JSON object
};

const char* watch_event_type_name(WatchEvent::Type type);

class WatchStreamDecoder {
 public:
  // 64 MiB: far above any real object (etcd's limit is 1.5 MiB per object).
  static constexpr size_t kDefaultMaxLine = 64u << 20;

  explicit WatchStreamDecoder(size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  // Feeds the next bytes of the stream. Each completed line appends one event
  // to `events`, or one message to `errors` when it is not a valid event.
  void feed(std::string_view bytes, std::vector<WatchEvent>& events, std::vector<std::string>& errors);

  // Bytes of an unfinished line held back (0 between events). A stream that
  // ends with pending() > 0 was cut mid-event.
  size_t pending() const { return line_.size(); }

  // Forgets any unfinished line: for a new connection.
  void reset();

 private:
  void finish_line(std::vector<WatchEvent>& events, std::vector<std::string>& errors);

  size_t max_line_;
  std::string line_;
  bool overflow_ = false;  // dropping the rest of an over-long line
  size_t line_number_ = 0;
};

}  // namespace bpfence
