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

void line(Level level, std::string_view msg, std::string_view kv) {
  if (!enabled(level)) return;
  std::string out = "level=";
  out += name(level);
  out += " msg=\"";
  for (char c : msg) out += (c == '"' ? '\'' : c);
  out += '"';
  if (!kv.empty()) {
    out += ' ';
    out += kv;
  }
  out += '\n';
  std::lock_guard lock(g_mutex);
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

void raw(std::string_view formatted) {
  Level l = Level::info;
  if (formatted.starts_with("level=")) {
    std::string_view rest = formatted.substr(6);
    parse_level(rest.substr(0, rest.find(' ')), &l);
  }
  if (!enabled(l)) return;
  std::lock_guard lock(g_mutex);
  std::fwrite(formatted.data(), 1, formatted.size(), stderr);
  if (formatted.empty() || formatted.back() != '\n') std::fputc('\n', stderr);
  std::fflush(stderr);
}

std::string q(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') plain = false;
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' ? ' ' : c);
  }
  return out + "\"";
}

}  // namespace bpfence::agentlog
