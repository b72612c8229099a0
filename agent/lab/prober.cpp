// Running many TCP/UDP/ICMP probes at once from lab namespaces (see prober.h).
#include "prober.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>

namespace bpfence::lab {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Allowed: return "allowed";
    case Outcome::Denied: return "denied";
    case Outcome::Refused: return "refused";
    case Outcome::Error: return "error";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

enum class Phase { Connecting, WaitEcho, WaitReply };

struct Active {
  size_t index;
  int fd = -1;
  Phase phase = Phase::WaitReply;
  Clock::time_point start, deadline;
  uint64_t token = 0;
  uint16_t echo_id = 0;
  uint8_t proto = 0;
  bool v6 = false;
};

// The destination of a probe, of either family; false if `ip` is neither.
bool destination(const std::string& ip, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  *out = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

uint16_t inet_checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len & 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

class Runner {
 public:
  Runner(const std::vector<ProbeSpec>& specs, const ProbeOptions& o) : specs_(specs), o_(o), results_(specs.size()) {
    std::random_device rd;
    rng_.seed((static_cast<uint64_t>(rd()) << 32) | rd());
    icmp_base_ = static_cast<uint16_t>(rng_());
  }

  std::vector<ProbeResult> run() {
    std::deque<size_t> pending;
    for (size_t i = 0; i < specs_.size(); ++i) pending.push_back(i);
    std::vector<pollfd> set;
    while (!pending.empty() || !active_.empty()) {
      while (!pending.empty() && static_cast<int>(active_.size()) < o_.max_in_flight) {
        start(pending.front());
        pending.pop_front();
      }
      if (active_.empty()) continue;
      set.clear();
      auto now = Clock::now();
      auto next = Clock::time_point::max();
      for (const auto& a : active_) {
        set.push_back({a.fd, static_cast<short>(a.phase == Phase::Connecting ? POLLOUT : POLLIN), 0});
        next = std::min(next, a.deadline);
      }
      int wait = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1));
      int n = poll(set.data(), set.size(), wait);
      if (n < 0 && errno != EINTR) {
        for (auto& a : active_) finish(a, Outcome::Error, std::string("poll: ") + std::strerror(errno));
      } else {
        for (size_t i = 0; i < set.size(); ++i)
          if (set[i].revents) step(active_[i], set[i].revents);
      }
      now = Clock::now();
      for (auto& a : active_)
        if (a.fd >= 0 && now >= a.deadline) finish(a, Outcome::Denied, "");
      std::erase_if(active_, [](const Active& a) { return a.fd < 0; });
    }
    return std::move(results_);
  }

 private:
  void finish(Active& a, Outcome outcome, std::string detail) {
    if (a.fd < 0) return;
    results_[a.index] = {outcome, ms_since(a.start), std::move(detail)};
    close(a.fd);
    a.fd = -1;
  }

  void start(size_t index) {
    const auto& spec = specs_[index];
    Active a;
    a.index = index;
    a.start = Clock::now();
    a.deadline = a.start + std::chrono::milliseconds(o_.timeout_ms);
    a.proto = spec.port.proto;
    sockaddr_storage dst;
    socklen_t dst_len = 0;
    if (!destination(spec.dst_ip, spec.port.port, &dst, &dst_len)) {
      results_[index] = {Outcome::Error, 0, "not an IP address: " + spec.dst_ip};
      return;
    }
    a.v6 = dst.ss_family == AF_INET6;
    auto* addr = reinterpret_cast<sockaddr*>(&dst);
    bool icmp = a.proto == 1;
    int type = a.proto == 17 ? SOCK_DGRAM : SOCK_STREAM;
    if (icmp) type = SOCK_RAW;
    int proto = !icmp ? a.proto : a.v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP);
    a.fd = socket_in(*spec.source, dst.ss_family, type | SOCK_NONBLOCK, proto);
    if (a.fd < 0) {
      results_[index] = {Outcome::Error, 0,
                         "socket in " + spec.source->name() + ": " + std::string(std::strerror(errno))};
      return;
    }
    a.token = rng_();
    if (type == SOCK_STREAM) {
      if (connect(a.fd, addr, dst_len) == 0) {
        send_byte(a);
      } else if (errno == EINPROGRESS) {
        a.phase = Phase::Connecting;
      } else {
        return fail_errno(a, "connect");
      }
    } else if (!icmp) {
      if (connect(a.fd, addr, dst_len) != 0) return fail_errno(a, "connect");
      if (send(a.fd, &a.token, sizeof a.token, 0) != sizeof a.token) return fail_errno(a, "send");
      a.phase = Phase::WaitReply;
    } else {
      // connect() on a raw socket keeps only packets from dst.
      if (connect(a.fd, addr, dst_len) != 0) return fail_errno(a, "connect");
      a.echo_id = static_cast<uint16_t>(icmp_base_ + index);
      // ICMP and ICMPv6 echo share the layout: type, code, checksum, id,
      // sequence. The kernel sums ICMPv6 itself (over the pseudo-header).
      uint8_t packet[sizeof(icmphdr) + sizeof a.token]{};
      auto* h = reinterpret_cast<icmphdr*>(packet);
      h->type = a.v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
      h->un.echo.id = htons(a.echo_id);
      h->un.echo.sequence = htons(1);
      std::memcpy(packet + sizeof(icmphdr), &a.token, sizeof a.token);
      if (!a.v6) h->checksum = inet_checksum(packet, sizeof packet);
      if (send(a.fd, packet, sizeof packet, 0) != static_cast<ssize_t>(sizeof packet)) return fail_errno(a, "send");
      a.phase = Phase::WaitReply;
    }
    active_.push_back(a);
  }

  void fail_errno(Active& a, const char* what) {
    int err = errno;
    Outcome o = err == ECONNREFUSED || err == ECONNRESET ? Outcome::Refused : Outcome::Error;
    results_[a.index] = {o, ms_since(a.start), std::string(what) + ": " + std::strerror(err)};
    close(a.fd);
    a.fd = -1;
  }

  void send_byte(Active& a) {
    char byte = 'b';
    if (send(a.fd, &byte, 1, MSG_NOSIGNAL) != 1) return fail_errno(a, "send");
    a.phase = Phase::WaitEcho;
  }

  void step(Active& a, short revents) {
    if (a.fd < 0) return;
    if (a.phase == Phase::Connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        return fail_errno(a, "connect");
      }
      return send_byte(a);
    }
    (void)revents;
    char buf[512];
    while (a.fd >= 0) {
      ssize_t n = recv(a.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return fail_errno(a, "recv");
      }
      if (a.phase == Phase::WaitEcho) {
        if (n == 0) return finish(a, Outcome::Refused, "connection closed before the echo");
        return finish(a, Outcome::Allowed, "");
      }
      if (a.proto == 17) {
        if (n == sizeof a.token && std::memcmp(buf, &a.token, sizeof a.token) == 0)
          return finish(a, Outcome::Allowed, "");
        continue;
      }
      // ICMP on a raw socket: the IP header comes first (not for ICMPv6).
      size_t ihl = 0;
      if (!a.v6) {
        if (n < static_cast<ssize_t>(sizeof(iphdr))) continue;
        ihl = (reinterpret_cast<iphdr*>(buf)->ihl) * 4u;
      }
      if (n < static_cast<ssize_t>(ihl + sizeof(icmphdr))) continue;
      auto* h = reinterpret_cast<icmphdr*>(buf + ihl);
      // The id and our random payload: another prober's reply never counts.
      uint8_t reply = a.v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY, unreachable = a.v6 ? ICMP6_DST_UNREACH : ICMP_DEST_UNREACH;
      if (h->type == reply && ntohs(h->un.echo.id) == a.echo_id &&
          n >= static_cast<ssize_t>(ihl + sizeof(icmphdr) + sizeof a.token) &&
          std::memcmp(buf + ihl + sizeof(icmphdr), &a.token, sizeof a.token) == 0)
        return finish(a, Outcome::Allowed, "");
      if (h->type == unreachable)
        return finish(a, Outcome::Error, std::string(a.v6 ? "ICMPv6" : "ICMP") + " destination unreachable code " +
                                             std::to_string(h->code));
    }
  }

  const std::vector<ProbeSpec>& specs_;
  ProbeOptions o_;
  std::vector<ProbeResult> results_;
  std::vector<Active> active_;
  std::mt19937_64 rng_;
  uint16_t icmp_base_ = 0;
};

}  // namespace

std::vector<ProbeResult> run_probes(const std::vector<ProbeSpec>& specs, const ProbeOptions& options) {
  return Runner(specs, options).run();
}

}  // namespace bpfence::lab
