// The agent's log: one line per event on stderr,
//   level=info msg="attached" pod=ns/web ifindex=12
// with a process-wide level (--log-level). Safe from any thread.
#pragma once

#include <string>
#include <string_view>

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

// Writes a line that is already formatted (from libraries with their own
// `level=... msg=...` output), filtered by its level= prefix.
void raw(std::string_view formatted);

// A value quoted when it needs to be: error="map policy: full".
std::string q(std::string_view value);

}  // namespace bpfence::agentlog
