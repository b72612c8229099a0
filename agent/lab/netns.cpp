// Named network namespaces and doing work inside them (see netns.h).
#include "netns.h"

#include <fcntl.h>
#include <glob.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "process.h"
#include "log.h"

namespace bpfence::lab {

std::string netns_path(const std::string& name) { return "/run/netns/" + name; }

bool netns_exists(const std::string& name) { return std::filesystem::exists(netns_path(name)); }

Status netns_add(const std::vector<std::string>& names) {
  if (names.empty()) return Status::ok();
  std::string batch;
  for (const auto& n : names) batch += "netns add " + n + "\n";
  return run_command({"ip", "-batch", "-"}, batch);
}

Status netns_delete(const std::vector<std::string>& names) {
  std::string errors;
  for (const auto& n : names) {
    if (n.empty() || !netns_exists(n)) continue;
    if (auto s = run_command({"ip", "netns", "delete", n}); !s) errors += (errors.empty() ? "" : "; ") + s.message();
  }
  return errors.empty() ? Status::ok() : Status::error(errors);
}

Status ip_batch(const std::string& netns, const std::vector<std::string>& lines) {
  if (lines.empty()) return Status::ok();
  std::string batch;
  for (const auto& l : lines) batch += l + "\n";
  auto s = run_command({"ip", "-n", netns, "-batch", "-"}, batch);
  if (!s) return Status::error("netns " + netns + ": " + s.message());
  return s;
}

NetnsHandle::NetnsHandle(const std::string& name)
    : fd_(open(netns_path(name).c_str(), O_RDONLY | O_CLOEXEC)), name_(name) {}

int socket_in(const NetnsHandle& ns, int domain, int type, int protocol) {
  // The thread's own namespace, to come back to.
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return -1;
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    int err = errno;
    close(home);
    errno = err;
    return -1;
  }
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  int err = errno;
  if (setns(home, CLONE_NEWNET) != 0) {
    // A thread stuck in the wrong namespace would open later sockets there.
    agentlog::error("cannot return to own network namespace", "err={}", agentlog::q(std::strerror(errno)));
    std::abort();
  }
  close(home);
  errno = err;
  return fd;
}

Status run_in_netns(const std::string& name, const std::function<Status()>& fn) {
  NetnsHandle ns(name);
  if (!ns.valid()) return Status::error("netns " + name + ": " + std::strerror(errno));
  Status result;
  std::thread t([&] {
    if (setns(ns.fd(), CLONE_NEWNET) != 0) {
      result = Status::error("netns " + name + ": setns: " + std::strerror(errno));
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

Status write_sysctls(const std::string& netns, const std::vector<std::pair<std::string, std::string>>& values) {
  return run_in_netns(netns, [&]() -> Status {
    for (const auto& [key, value] : values) {
      // /proc/sys/net resolves against the calling thread's namespace.
      std::string pattern = "/proc/sys/" + key;
      glob_t g{};
      if (glob(pattern.c_str(), 0, nullptr, &g) != 0) {
        globfree(&g);
        return Status::error("netns " + netns + ": sysctl " + key + ": not found");
      }
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::ofstream out(g.gl_pathv[i]);
        out << value;
        out.flush();
        if (!out) {
          std::string path = g.gl_pathv[i];
          globfree(&g);
          return Status::error("netns " + netns + ": sysctl " + path + "=" + value + ": write failed");
        }
      }
      globfree(&g);
    }
    return Status::ok();
  });
}

}  // namespace bpfence::lab
