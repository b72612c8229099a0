#include "provenance.h"

#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace bpfence::bench {
namespace {

// First line of a command's output, or "" when it fails.
std::string first_line(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[256] = {};
  std::string out = std::fgets(buf, sizeof buf, p) ? buf : "";
  if (pclose(p) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string source_commit() {
  // The tree the binary was built from, not the caller's working directory.
  const std::string git = "git -C '" BPFENCE_BENCH_SOURCE_DIR "' ";
  std::string sha = first_line(git + "rev-parse HEAD 2>/dev/null");
  if (sha.empty()) return "unknown";
  if (!first_line(git + "status --porcelain --untracked-files=no 2>/dev/null").empty()) sha += "-dirty";
  return sha;
}

}  // namespace

nlohmann::json machine_info() {
  utsname u{};
  uname(&u);
  std::string model;
  long mem_kib = 0;
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream mem("/proc/meminfo");
  for (std::string key; mem >> key;) {
    if (key == "MemTotal:") {
      mem >> mem_kib;
      break;
    }
    mem.ignore(256, '\n');
  }
  return {{"cpu_model", model},
          {"cpus", std::thread::hardware_concurrency()},
          {"kernel", u.release},
          {"mem_mib", mem_kib / 1024}};
}

nlohmann::json provenance() { return {{"commit", source_commit()}, {"machine", machine_info()}}; }

}  // namespace bpfence::bench
