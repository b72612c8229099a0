// Structured log lines for the BPF dataplane: level=... msg="..." key=value.
#pragma once

#include <cstdio>
#include <string>

namespace bpfence::bpflog {

inline void line(const char* level, const std::string& msg, const std::string& kv = {}) {
  std::fprintf(stderr, "level=%s msg=\"%s\"%s%s\n", level, msg.c_str(), kv.empty() ? "" : " ", kv.c_str());
}
inline void info(const std::string& msg, const std::string& kv = {}) { line("info", msg, kv); }
inline void warn(const std::string& msg, const std::string& kv = {}) { line("warn", msg, kv); }

}  // namespace bpfence::bpflog
