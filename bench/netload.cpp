// bench_netload: the small load generator of the network benchmark
// (bench/netbench.cpp), run inside lab pod namespaces.
//
//   bench_netload serve --port P [--ready-fd N] [--cpu N]
//       TCP echo server (one epoll thread): echoes every byte it reads and
//       closes when the peer closes. Serves both client modes.
//   bench_netload rr  --to IP:PORT --seconds S
//       one TCP connection, 1 byte out, 1 byte back, as fast as it goes:
//       transactions/s and the p50/p99 of each round trip.
//   bench_netload crr --to IP:PORT --seconds S
//       new connection per transaction: connect, 1 byte, wait for the echo,
//       close. Connections/s and p50/p99 of the whole exchange. The client
//       closes first, so TIME_WAIT stays on the client side; netbench
//       widens the client pod's port range and enables tcp_tw_reuse.
//
// --cpu N (every mode) pins the process to CPU N: netbench puts the client
// and the servers on one CPU, so a round trip never waits on a cross-CPU
// wakeup (which swung ping-pong 2-8x between repeats on 2 vCPUs) and the
// rate measures the CPU cost of a transaction, dataplane included.
//
// Client modes print one JSON object on stdout. A failed connect or a
// short read is counted as an error and ends the run early (a bench that
// silently measures refusals would report nonsense).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void usage() {
  std::fprintf(stderr,
               "usage: bench_netload serve --port P [--ready-fd N] [--cpu N]\n"
               "       bench_netload rr|crr --to IP:PORT --seconds S [--cpu N]\n");
  std::exit(2);
}

int serve(int port, int ready_fd) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(ls, 4096)) {
    std::fprintf(stderr, "level=error msg=\"listen failed\" port=%d err=\"%s\"\n", port, std::strerror(errno));
    return 1;
  }
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  if (ready_fd >= 0) {
    (void)!write(ready_fd, "ready\n", 6);
    close(ready_fd);
  }
  std::vector<epoll_event> events(256);
  char buf[4096];
  while (true) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        while (true) {
          int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        (void)!write(fd, buf, r);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);  // closing removes it from the epoll set
      }
    }
  }
}

bool parse_to(const std::string& to, sockaddr_in& a) {
  auto colon = to.rfind(':');
  if (colon == std::string::npos) return false;
  a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::atoi(to.c_str() + colon + 1));
  return inet_pton(AF_INET, to.substr(0, colon).c_str(), &a.sin_addr) == 1;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + (std::max<size_t>(rank, 1) - 1), v.end());
  return v[std::max<size_t>(rank, 1) - 1];
}

// One byte out, one byte back on `fd`; false on any error.
bool exchange(int fd) {
  char c = 'x';
  if (write(fd, &c, 1) != 1) return false;
  return read(fd, &c, 1) == 1;
}

int client(bool per_connection, const sockaddr_in& to, double seconds) {
  std::vector<double> lat_us;
  lat_us.reserve(1 << 20);
  int one = 1;
  int64_t start = now_ns(), end = start + static_cast<int64_t>(seconds * 1e9);
  long errors = 0;
  std::string error;
  int fd = -1;
  if (!per_connection) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to)) {
      error = std::string("connect: ") + std::strerror(errno);
      ++errors;
    }
  }
  int64_t t = now_ns();
  while (errors == 0 && t < end) {
    int64_t t0 = t;
    if (per_connection) {
      fd = socket(AF_INET, SOCK_STREAM, 0);
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to)) {
        error = std::string("connect: ") + std::strerror(errno);
        ++errors;
      } else if (!exchange(fd)) {
        error = "exchange failed";
        ++errors;
      }
      close(fd);
    } else if (!exchange(fd)) {
      error = "exchange failed";
      ++errors;
    }
    t = now_ns();
    if (errors == 0) lat_us.push_back((t - t0) / 1e3);
  }
  if (!per_connection && fd >= 0) close(fd);
  double elapsed = (t - start) / 1e9;
  size_t n = lat_us.size();
  double p50 = pct(lat_us, 50), p99 = pct(lat_us, 99);
  std::printf("{\"mode\":\"%s\",\"count\":%zu,\"seconds\":%.4f,\"per_second\":%.1f,\"p50_us\":%.2f,"
              "\"p99_us\":%.2f,\"errors\":%ld,\"error\":\"%s\"}\n",
              per_connection ? "crr" : "rr", n, elapsed, elapsed > 0 ? n / elapsed : 0.0, p50, p99, errors,
              error.c_str());
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string mode = argv[1], to;
  int port = 0, ready_fd = -1, cpu = -1;
  double seconds = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = std::atoi(argv[i + 1]);
    else if (a == "--ready-fd") ready_fd = std::atoi(argv[i + 1]);
    else if (a == "--to") to = argv[i + 1];
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--cpu") cpu = std::atoi(argv[i + 1]);
    else usage();
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::fprintf(stderr, "level=error msg=\"cannot pin to cpu %d\" err=\"%s\"\n", cpu, std::strerror(errno));
      return 1;
    }
  }
  if (mode == "serve") {
    if (port <= 0) usage();
    return serve(port, ready_fd);
  }
  sockaddr_in addr;
  if ((mode != "rr" && mode != "crr") || !parse_to(to, addr) || seconds <= 0) usage();
  return client(mode == "crr", addr, seconds);
}
