// What the agent latency benchmarks share: a UDP stream from a client pod
// to a server pod that records which datagrams arrive (a policy change is
// timed by the first datagram whose fate it changed), and percentiles.
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "netns.h"

namespace bpfence::bench {

constexpr size_t kMaxSeq = 4u << 20;
constexpr int64_t kIntervalNs = 100'000;  // one datagram every 100 us

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Packet {
  uint64_t seq;
};

// The client's sender and the server's receiver, on sockets opened in the
// pods' namespaces: one datagram every kIntervalNs to server_ip:port, each
// stamped with its sequence number.
class Traffic {
 public:
  Traffic(const lab::NetnsHandle& client, const lab::NetnsHandle& server, const char* server_ip, uint16_t port)
      : sent_ns_(kMaxSeq, 0), received_(kMaxSeq) {
    rx_ = lab::socket_in(server, AF_INET, SOCK_DGRAM, 0);
    tx_ = lab::socket_in(client, AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (bind(rx_, reinterpret_cast<sockaddr*>(&a), sizeof a)) std::perror("bind");
    int big = 8 << 20;
    setsockopt(rx_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    inet_pton(AF_INET, server_ip, &a.sin_addr);
    if (connect(tx_, reinterpret_cast<sockaddr*>(&a), sizeof a)) std::perror("connect");
    rx_thread_ = std::thread([this] { receive(); });
    tx_thread_ = std::thread([this] { send(); });
  }
  ~Traffic() {
    stop_ = true;
    tx_thread_.join();
    rx_thread_.join();
    close(rx_);
    close(tx_);
  }
  uint64_t sent() const { return next_seq_; }
  uint64_t last_received() const { return last_rx_; }
  int64_t sent_at(uint64_t seq) const { return sent_ns_[seq]; }
  bool received(uint64_t seq) const { return received_[seq].load(std::memory_order_relaxed); }
  // First sequence number sent at or after t.
  uint64_t first_sent_after(int64_t t, uint64_t from) const {
    uint64_t end = next_seq_;
    for (uint64_t s = from; s < end; ++s)
      if (sent_ns_[s] >= t) return s;
    return end;
  }

 private:
  void send() {
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop_ && next_seq_ < kMaxSeq) {
      uint64_t seq = next_seq_;
      Packet p{seq};
      sent_ns_[seq] = now_ns();
      (void)::send(tx_, &p, sizeof p, 0);
      next_seq_ = seq + 1;
      next.tv_nsec += kIntervalNs;
      if (next.tv_nsec >= 1'000'000'000) {
        next.tv_nsec -= 1'000'000'000;
        ++next.tv_sec;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    }
  }
  void receive() {
    while (!stop_) {
      pollfd p{rx_, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      Packet pkt{};
      while (recv(rx_, &pkt, sizeof pkt, MSG_DONTWAIT) == sizeof pkt) {
        if (pkt.seq < kMaxSeq) {
          received_[pkt.seq].store(true, std::memory_order_relaxed);
          last_rx_ = pkt.seq;
        }
      }
    }
  }

  int rx_ = -1, tx_ = -1;
  std::vector<int64_t> sent_ns_;
  std::vector<std::atomic<bool>> received_;
  std::atomic<uint64_t> next_seq_{0}, last_rx_{0};
  std::atomic<bool> stop_{false};
  std::thread rx_thread_, tx_thread_;
};

struct Stats {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
  size_t n = 0;
};

inline Stats stats(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    // Nearest rank.
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
    return v[std::max<size_t>(rank, 1) - 1];
  };
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  s.max = v.back();
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  return s;
}

inline nlohmann::json stats_json(const Stats& s) {
  return {{"n", s.n}, {"p50_ms", s.p50}, {"p90_ms", s.p90}, {"p99_ms", s.p99}, {"max_ms", s.max}, {"mean_ms", s.mean}};
}

}  // namespace bpfence::bench
