// The agent's structured log lines.
#include "log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace bpfence::agentlog {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void write_line(std::string_view text) {
  std::lock_guard lock(g_mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
  if (text.empty() || text.back() != '\n') std::fputc('\n', stderr);
  std::fflush(stderr);
}

// The inside of a quoted value: the escapes logfmt readers undo.
void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
}

}  // namespace

bool parse_level(std::string_view text, Level* out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == name(l)) {
      *out = l;
      return true;
    }
  }
  if (text == "warning") {
    *out = Level::warn;
    return true;
  }
  return false;
}

void set_level(Level level) { g_level = static_cast<int>(level); }
bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

std::string format_line(Level level, std::string_view msg, std::string_view kv) {
  std::string out = fmt::format("level={} msg=\"", name(level));
  append_escaped(out, msg);
  out += '"';
  if (!kv.empty()) {
    out += ' ';
    out += kv;
  }
  return out;
}

void line(Level level, std::string_view msg, std::string_view kv) {
  if (enabled(level)) write_line(format_line(level, msg, kv));
}

void raw(std::string_view formatted) {
  Level l = Level::info;
  if (formatted.starts_with("level=")) {
    std::string_view rest = formatted.substr(6);
    parse_level(rest.substr(0, rest.find(' ')), &l);
  }
  if (enabled(l)) write_line(formatted);
}

std::string q(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) plain = false;
  if (plain) return std::string(value);
  std::string out = "\"";
  append_escaped(out, value);
  return out + "\"";
}

}  // namespace bpfence::agentlog
