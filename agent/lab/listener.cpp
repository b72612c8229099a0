// A single-threaded echo server for the lab's pods (see listener.h).
#include "listener.h"
#include "log.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace bpfence::lab {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int bind_port(const ProbePort& p, bool ipv6) {
  int type = p.proto == 17 ? SOCK_DGRAM : SOCK_STREAM;
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, p.proto);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage addr{};
  socklen_t len = sizeof(sockaddr_in);
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p.port);
    a->sin6_addr = in6addr_any;
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(p.port);
    a->sin_addr.s_addr = htonl(INADDR_ANY);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || (type == SOCK_STREAM && listen(fd, 512) != 0)) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

}  // namespace

int run_listener(const std::vector<ProbePort>& ports, int ready_fd, bool ipv6) {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  enum Kind { Listening, Datagram, Connection };
  std::map<int, Kind> fds;
  for (const auto& p : ports) {
    int fd = bind_port(p, ipv6);
    if (fd < 0) {
      agentlog::error("cannot listen", "port={} err={}", p.str(), agentlog::q(std::strerror(errno)));
      return 1;
    }
    fds[fd] = p.proto == 17 ? Datagram : Listening;
  }
  if (ready_fd >= 0) {
    ssize_t n = write(ready_fd, "ready\n", 6);
    (void)n;
    close(ready_fd);
  }

  std::vector<pollfd> set;
  char buf[2048];
  while (!g_stop) {
    set.clear();
    for (const auto& [fd, kind] : fds) set.push_back({fd, POLLIN, 0});
    int n = poll(set.data(), set.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (const auto& p : set) {
      if (!p.revents) continue;
      Kind kind = fds[p.fd];
      if (kind == Listening) {
        // Drain the backlog: many probes may connect at once.
        while (true) {
          int c = accept4(p.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          fds[c] = Connection;
        }
      } else if (kind == Datagram) {
        while (true) {
          sockaddr_storage from{};
          socklen_t len = sizeof from;
          ssize_t got = recvfrom(p.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (got < 0) break;
          sendto(p.fd, buf, got, 0, reinterpret_cast<sockaddr*>(&from), len);
        }
      } else {
        ssize_t got = recv(p.fd, buf, sizeof buf, 0);
        if (got > 0) {
          // Probes send a byte or a few: a non-blocking send takes them whole.
          if (send(p.fd, buf, got, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
            close(p.fd);
            fds.erase(p.fd);
          }
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(p.fd);
          fds.erase(p.fd);
        }
      }
    }
  }
  for (const auto& [fd, kind] : fds) close(fd);
  return 0;
}

}  // namespace bpfence::lab
