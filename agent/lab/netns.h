// Network namespaces for the lab: creating and deleting named ones (as
// `ip netns` does, so they show in `ip netns list`), configuring them with
// `ip -batch`, and doing work inside one from this process: setns() is
// per-thread, so a thread can enter a namespace, open a socket there (the
// socket stays bound to that namespace) and come back.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "unique_fd.h"

namespace bpfence::lab {

std::string netns_path(const std::string& name);  // /run/netns/<name>
bool netns_exists(const std::string& name);

Status netns_add(const std::vector<std::string>& names);
// Deletes the ones that exist; errors are collected, none stops the rest.
Status netns_delete(const std::vector<std::string>& names);

// Runs `ip -n <netns> -batch -` with one command per line.
Status ip_batch(const std::string& netns, const std::vector<std::string>& lines);

// An open handle on a namespace; the current thread can enter it.
class NetnsHandle {
 public:
  NetnsHandle() = default;
  explicit NetnsHandle(const std::string& name);

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

 private:
  UniqueFd fd_;
  std::string name_;
};

// Opens a socket inside `ns` from the calling thread (enters, creates,
// returns to the thread's namespace). Returns -1 with errno set on failure.
int socket_in(const NetnsHandle& ns, int domain, int type, int protocol);

// Runs fn on a fresh thread that has entered the namespace; returns its Status.
Status run_in_netns(const std::string& name, const std::function<Status()>& fn);

// Writes a sysctl under /proc/sys from inside `netns` ("net/ipv4/ip_forward").
// Per-interface keys may use '*' for every interface ("net/ipv4/conf/*/rp_filter").
Status write_sysctls(const std::string& netns, const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace bpfence::lab
