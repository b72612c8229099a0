// A flow flood for the fault tests (issue 8, flow table full): many
// distinct UDP 5-tuples from one pod, crafted on a raw socket and sent in
// batches with sendmmsg, so every packet is a new flow through the real TC
// program. IPPROTO_RAW means IP_HDRINCL: the kernel fills in the IP checksum,
// total length and id; the UDP checksum is 0 (none, valid on IPv4).
//
// Also a UDP counter: sockets bound in a pod's namespace, read by a thread,
// counting the datagrams that got through to each port.
#pragma once

#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace bpfence::testsupport {

struct FloodSpec {
  std::string src, dst;          // IPv4
  std::vector<uint16_t> dports;  // each gets flows_per_port source ports
  uint32_t flows_per_port = 0;
  uint16_t first_sport = 1024;   // first_sport + flows_per_port must stay <= 65536
  size_t payload = 8;
  // 2: each flow's packet goes twice in a row, so its flow entry is looked
  // up once after it was made; the kernel's LRU then treats it as in use
  // (its active list), like an established connection's.
  uint32_t packets_per_flow = 1;
};

struct FloodResult {
  uint64_t sent = 0;
  uint64_t errors = 0;  // packets sendmmsg refused
  double seconds = 0;
  double pps() const { return seconds > 0 ? sent / seconds : 0; }
};

// fd: socket(AF_INET, SOCK_RAW, IPPROTO_RAW) opened in the sending pod's
// namespace. Port by port, source port by source port: flows_per_port *
// dports.size() distinct flows, packets_per_flow packets each.
inline FloodResult flood_udp(int fd, const FloodSpec& spec) {
  constexpr size_t kBatch = 64;
  const size_t len = sizeof(iphdr) + sizeof(udphdr) + spec.payload;
  std::vector<std::vector<uint8_t>> bufs(kBatch, std::vector<uint8_t>(len, 0));
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  inet_pton(AF_INET, spec.dst.c_str(), &to.sin_addr);
  in_addr src{};
  inet_pton(AF_INET, spec.src.c_str(), &src);
  for (size_t i = 0; i < kBatch; ++i) {
    auto* ip = reinterpret_cast<iphdr*>(bufs[i].data());
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->saddr = src.s_addr;
    ip->daddr = to.sin_addr.s_addr;
    ip->tot_len = htons(static_cast<uint16_t>(len));
    auto* udp = reinterpret_cast<udphdr*>(bufs[i].data() + sizeof(iphdr));
    udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + spec.payload));
    iov[i] = {bufs[i].data(), len};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  FloodResult r;
  auto t0 = std::chrono::steady_clock::now();
  for (uint16_t dport : spec.dports) {
    for (uint32_t done = 0; done < spec.flows_per_port;) {
      const uint32_t ppf = std::max<uint32_t>(spec.packets_per_flow, 1);
      size_t flows_now = std::min<size_t>(kBatch / ppf, spec.flows_per_port - done);
      size_t n = flows_now * ppf;
      for (size_t i = 0; i < n; ++i) {
        auto* udp = reinterpret_cast<udphdr*>(bufs[i].data() + sizeof(iphdr));
        udp->source = htons(static_cast<uint16_t>(spec.first_sport + done + i / ppf));
        udp->dest = htons(dport);
      }
      size_t off = 0;
      while (off < n) {
        int k = sendmmsg(fd, msgs.data() + off, static_cast<unsigned>(n - off), 0);
        if (k <= 0) {
          // ENOBUFS and the like: count the packet as refused and go on.
          ++r.errors;
          ++off;
          continue;
        }
        r.sent += k;
        off += k;
      }
      done += flows_now;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// Counts datagrams arriving on UDP ports. The sockets are made by the
// caller (in the receiving pod's namespace) and handed over with their port.
class UdpCounter {
 public:
  explicit UdpCounter(std::map<uint16_t, int> fds) : fds_(std::move(fds)) {
    for (auto& [port, fd] : fds_) counts_[port] = 0;
    thread_ = std::thread([this] { run(); });
  }
  ~UdpCounter() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& [port, fd] : fds_) close(fd);
  }
  uint64_t count(uint16_t port) const { return counts_.at(port).load(); }

 private:
  void run() {
    std::vector<pollfd> pfds;
    std::vector<uint16_t> ports;
    for (auto& [port, fd] : fds_) {
      pfds.push_back({fd, POLLIN, 0});
      ports.push_back(port);
    }
    constexpr int kBatch = 64;
    char buf[kBatch][64];
    iovec iov[kBatch];
    mmsghdr msgs[kBatch];
    while (!stop_) {
      if (poll(pfds.data(), pfds.size(), 50) <= 0) continue;
      for (size_t i = 0; i < pfds.size(); ++i) {
        if (!(pfds[i].revents & POLLIN)) continue;
        for (;;) {
          std::memset(msgs, 0, sizeof msgs);
          for (int j = 0; j < kBatch; ++j) {
            iov[j] = {buf[j], sizeof buf[j]};
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
          }
          int n = recvmmsg(pfds[i].fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
          if (n <= 0) break;
          counts_[ports[i]] += n;
        }
      }
    }
  }

  std::map<uint16_t, int> fds_;
  std::map<uint16_t, std::atomic<uint64_t>> counts_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace bpfence::testsupport
