// The agent's one log: one logfmt line per event on stderr,
//   level=info msg="attached" pod=ns/web ifindex=12
// with a process-wide level (--log-level). Safe from any thread.
//
// Key=value pairs come either preformatted (`info("msg", "pod=" + q(pod))`)
// or as a fmt format string (`info("msg", "pod={} ifindex={}", q(pod), 12)`).
// Values that may hold spaces, quotes or '=' go through q().
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

namespace bpfence::agentlog {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

bool parse_level(std::string_view text, Level* out);
void set_level(Level level);
bool enabled(Level level);

// kv is already formatted: key=value pairs separated by spaces.
void line(Level level, std::string_view msg, std::string_view kv = {});
inline void debug(std::string_view msg, std::string_view kv = {}) { line(Level::debug, msg, kv); }
inline void info(std::string_view msg, std::string_view kv = {}) { line(Level::info, msg, kv); }
inline void warn(std::string_view msg, std::string_view kv = {}) { line(Level::warn, msg, kv); }
inline void error(std::string_view msg, std::string_view kv = {}) { line(Level::error, msg, kv); }

// The same with the pairs as a format string and its arguments; nothing is
// formatted when the level is off.
template <class A, class... More>
void line(Level level, std::string_view msg, fmt::format_string<A, More...> kv, A&& a, More&&... more) {
  if (enabled(level))
    line(level, msg, std::string_view(fmt::format(kv, std::forward<A>(a), std::forward<More>(more)...)));
}
template <class A, class... More>
void debug(std::string_view msg, fmt::format_string<A, More...> kv, A&& a, More&&... more) {
  line(Level::debug, msg, kv, std::forward<A>(a), std::forward<More>(more)...);
}
template <class A, class... More>
void info(std::string_view msg, fmt::format_string<A, More...> kv, A&& a, More&&... more) {
  line(Level::info, msg, kv, std::forward<A>(a), std::forward<More>(more)...);
}
template <class A, class... More>
void warn(std::string_view msg, fmt::format_string<A, More...> kv, A&& a, More&&... more) {
  line(Level::warn, msg, kv, std::forward<A>(a), std::forward<More>(more)...);
}
template <class A, class... More>
void error(std::string_view msg, fmt::format_string<A, More...> kv, A&& a, More&&... more) {
  line(Level::error, msg, kv, std::forward<A>(a), std::forward<More>(more)...);
}

// The line line() writes, without the newline.
std::string format_line(Level level, std::string_view msg, std::string_view kv = {});

// Writes a line that is already formatted (from libraries with their own
// `level=... msg=...` output), filtered by its level= prefix.
void raw(std::string_view formatted);

// A value quoted when it needs to be, with quotes, backslashes and control
// characters escaped so one event stays one parseable line:
// error="map \"policy\": full".
std::string q(std::string_view value);

}  // namespace bpfence::agentlog
