// Real traffic: a pod network namespace behind a veth, the program attached
// to the host side by BpfDataplane::bind(), TCP connections from the node
// forwarded and dropped as the maps say, and cut when the policy changes; a
// pod's ICMP port unreachable reaching the sender of an allowed datagram.
//
// The test process already lives in a private network namespace (main.cpp),
// which plays the node; the pod namespace is a named one (with the pid in
// its name), deleted by a guard even when a check fails.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "cluster.h"
#include "fixture.h"
#include "unique_fd.h"

using namespace bpfence;
using namespace bpfence::testdp;

namespace {

struct NetnsGuard {
  std::string name;
  explicit NetnsGuard(std::string n) : name(std::move(n)) { sh("ip netns add " + name); }
  ~NetnsGuard() { std::system(("ip netns del " + name + " >/dev/null 2>&1").c_str()); }
};

// Runs the enclosing scope's socket calls inside the named namespace.
struct InNetns {
  UniqueFd saved;
  explicit InNetns(const std::string& name) : saved(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) {
    UniqueFd target(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!target || setns(target.get(), CLONE_NEWNET) != 0) throw std::runtime_error("setns " + name);
  }
  ~InNetns() { (void)setns(saved.get(), CLONE_NEWNET); }
};

sockaddr_in addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

UniqueFd listener(const char* ip, uint16_t port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = addr(ip, port);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) || ::listen(s.get(), 8))
    throw std::runtime_error("listen " + std::to_string(port));
  return s;
}

// Non-blocking connect with a timeout; returns the socket or an invalid fd.
UniqueFd connect_to(const char* ip, uint16_t port, int timeout_ms, uint16_t* local_port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in a = addr(ip, port);
  int rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
  sockaddr_in me{};
  socklen_t len = sizeof(me);
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&me), &len);
  *local_port = ntohs(me.sin_port);
  if (rc != 0 && errno != EINPROGRESS) return UniqueFd();
  pollfd p{s.get(), POLLOUT, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return UniqueFd();
  int err = 0;
  len = sizeof(err);
  getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return UniqueFd();
  return s;
}

// The pod: a namespace with 10.200.0.2 behind a veth whose host side,
// 10.200.0.1, is the node. Named with the pid; the namespace (and with it
// the veth) goes when the guard does.
struct PodVeth {
  std::string pid = std::to_string(::getpid());
  NetnsGuard ns{"bfdp" + pid};
  std::string host_if = "bfh" + pid;

  PodVeth() {
    const std::string pod_if = "bfc" + pid;
    sh("ip link add " + host_if + " type veth peer name " + pod_if);
    sh("ip link set " + pod_if + " netns " + ns.name);
    sh("ip -n " + ns.name + " addr add 10.200.0.2/24 dev " + pod_if);
    sh("ip -n " + ns.name + " link set " + pod_if + " up");
    sh("ip -n " + ns.name + " link set lo up");
    sh("ip addr add 10.200.0.1/24 dev " + host_if);
    sh("ip link set " + host_if + " up");
  }
};

// dev/web's ingress: only the node (10.200.0.1, deliberately not a host IP
// here, so an ordinary peer the policy has to allow) on `allowed`.
NetworkPolicy web_in(PolicyPort allowed) {
  PolicyRule r;
  r.peers = {cidr_peer("10.200.0.1/32")};
  r.ports = {allowed};
  return ingress_policy("dev", "web-in", {{"app", "web"}}, {r});
}

// dev/web at 10.200.0.2 behind `pod`'s veth, admitting web_in(allowed) and
// sending nothing by policy: replies and related ICMP errors must still pass.
void set_up_web(Fixture& f, const PodVeth& pod, PolicyPort allowed) {
  Compiler& c = f.compiler();
  c.upsert(make_ns("dev"));
  c.upsert(make_pod("dev", "web", {{"app", "web"}}, {"10.200.0.2"}));
  c.upsert(web_in(allowed));
  c.upsert(egress_policy("dev", "web-no-egress", {{"app", "web"}}, {}));
  f.use_interface("dev/web", pod.host_if);
  f.commit();
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

}  // namespace

TEST_CASE("real TCP through a veth is forwarded and dropped as the maps say", "[veth]") {
  Fixture f;
  PodVeth pod;
  set_up_web(f, pod, port(8080));

  UniqueFd l8080, l9090;
  {
    InNetns in(pod.ns.name);
    l8080 = listener("10.200.0.2", 8080);
    l9090 = listener("10.200.0.2", 9090);
  }

  uint16_t p_ok = 0, p_denied = 0;
  UniqueFd conn = connect_to("10.200.0.2", 8080, 3000, &p_ok);
  REQUIRE(conn.valid());
  UniqueFd served(::accept4(l8080.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(served.valid());
  REQUIRE(::send(conn.get(), "hello", 5, 0) == 5);
  REQUIRE(readable(served.get(), 2000));
  char buf[16] = {};
  CHECK(::recv(served.get(), buf, sizeof(buf), 0) == 5);
  // The pod answers although its egress is isolated: replies are allowed.
  REQUIRE(::send(served.get(), "world", 5, 0) == 5);
  REQUIRE(readable(conn.get(), 2000));
  CHECK(::recv(conn.get(), buf, sizeof(buf), 0) == 5);

  UniqueFd denied = connect_to("10.200.0.2", 9090, 1000, &p_denied);
  CHECK_FALSE(denied.valid());
  auto fl = f.flow("dev/web", BF_DIR_INGRESS, "10.200.0.1", "10.200.0.2", 6, p_denied, 9090);
  REQUIRE(fl);
  CHECK(fl->action == BF_ACT_DROP);
  CHECK(fl->reason == BF_R_FW_POLICY);
  auto ok = f.flow("dev/web", BF_DIR_INGRESS, "10.200.0.1", "10.200.0.2", 6, p_ok, 8080);
  REQUIRE(ok);
  CHECK(ok->action == BF_ACT_FORWARD);
  CHECK(ok->packets >= 3);  // SYN, ACK, data
  CHECK(f.rule(ok->rule_id) == "dev/web-in ingress[0]");

  // Move the allow from 8080 to 9090: the open connection is cut on its
  // next packet, and 9090 now connects.
  f.compiler().upsert(web_in(port(9090)));
  f.commit();
  REQUIRE(::send(conn.get(), "again", 5, 0) == 5);
  CHECK_FALSE(readable(served.get(), 1000));
  auto cut = f.flow("dev/web", BF_DIR_INGRESS, "10.200.0.1", "10.200.0.2", 6, p_ok, 8080);
  REQUIRE(cut);
  CHECK(cut->action == BF_ACT_DROP);
  uint16_t p_new = 0;
  UniqueFd now_ok = connect_to("10.200.0.2", 9090, 3000, &p_new);
  CHECK(now_ok.valid());
}

TEST_CASE("real ICMP port unreachable from an egress-isolated pod reaches the sender as Related", "[veth]") {
  Fixture f;
  PodVeth pod;
  set_up_web(f, pod, port(5353, Protocol::UDP));

  // A connected UDP socket on the node sees the pod's ICMP port unreachable
  // (nothing listens on 5353 in the pod) as ECONNREFUSED.
  auto refused = [](uint16_t port) {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = addr("10.200.0.2", port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) || ::send(s.get(), "x", 1, 0) != 1)
      throw std::runtime_error("udp send");
    pollfd p{s.get(), POLLIN | POLLERR, 0};
    if (::poll(&p, 1, 1500) != 1) return false;
    char b;
    return ::recv(s.get(), &b, 1, 0) < 0 && errno == ECONNREFUSED;
  };
  bf_counter before = f.counter(BF_ACT_FORWARD, BF_R_RELATED);
  CHECK(refused(5353));
  CHECK(f.counter(BF_ACT_FORWARD, BF_R_RELATED).packets == before.packets + 1);
  // 5354 is not allowed in: the datagram is dropped, so no error comes back.
  CHECK_FALSE(refused(5354));
  CHECK(f.counter(BF_ACT_FORWARD, BF_R_RELATED).packets == before.packets + 1);
}

TEST_CASE("real UDP through a veth: the flow entries count every packet and byte exactly", "[veth]") {
  Fixture f;
  PodVeth pod;
  set_up_web(f, pod, port(5353, Protocol::UDP));

  UniqueFd echo;
  {
    InNetns in(pod.ns.name);
    echo = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = addr("10.200.0.2", 5353);
    REQUIRE(::bind(echo.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  }
  UniqueFd node(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in to = addr("10.200.0.2", 5353);
  REQUIRE(::connect(node.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0);
  sockaddr_in me{};
  socklen_t me_len = sizeof(me);
  getsockname(node.get(), reinterpret_cast<sockaddr*>(&me), &me_len);
  const uint16_t node_port = ntohs(me.sin_port);

  // Datagrams of different sizes, each echoed by the pod and waited for, so
  // every packet has crossed both programs before the entries are read. A
  // cached hit must count like the first packet did.
  constexpr int kDatagrams = 40;
  constexpr uint64_t kHeaders = 14 + 20 + 8;  // skb->len at TC: Ethernet + IPv4 + UDP
  uint64_t bytes = 0;
  char buf[256] = {};
  auto monotonic_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  };
  uint64_t last_send_ns = 0;
  for (int i = 1; i <= kDatagrams; ++i) {
    const size_t len = static_cast<size_t>(i * 5);
    last_send_ns = monotonic_ns();
    REQUIRE(::send(node.get(), buf, len, 0) == static_cast<ssize_t>(len));
    REQUIRE(readable(echo.get(), 2000));
    sockaddr_in from{};
    socklen_t from_len = sizeof(from);
    REQUIRE(::recvfrom(echo.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len) ==
            static_cast<ssize_t>(len));
    REQUIRE(::sendto(echo.get(), buf, len, 0, reinterpret_cast<sockaddr*>(&from), from_len) == static_cast<ssize_t>(len));
    REQUIRE(readable(node.get(), 2000));
    REQUIRE(::recv(node.get(), buf, sizeof(buf), 0) == static_cast<ssize_t>(len));
    bytes += len + kHeaders;
  }
  const uint64_t now_ns = monotonic_ns();

  auto in = f.flow("dev/web", BF_DIR_INGRESS, "10.200.0.1", "10.200.0.2", 17, node_port, 5353);
  REQUIRE(in);
  CHECK(in->action == BF_ACT_FORWARD);
  CHECK(in->packets == kDatagrams);
  CHECK(in->bytes == bytes);
  auto back = f.flow("dev/web", BF_DIR_EGRESS, "10.200.0.2", "10.200.0.1", 17, 5353, node_port);
  REQUIRE(back);
  CHECK((back->flags & BF_FLOW_REPLY) != 0);
  CHECK(back->packets == kDatagrams);
  CHECK(back->bytes == bytes);
  // Last seen to the second: both entries saw a packet after last_send_ns,
  // and the coarse clock lags the monotonic one by at most a tick.
  for (const auto* v : {&*in, &*back}) {
    CHECK(v->last_seen_ns <= now_ns);
    CHECK(v->last_seen_ns + 1000000000ull >= last_send_ns);
    CHECK(v->first_seen_ns <= v->last_seen_ns);
  }
}
