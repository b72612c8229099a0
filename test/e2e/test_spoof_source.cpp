// A pod may only send from its own addresses, with real packets: two nodes
// (each a network namespace running bpfence-agent), dual-stack pods routed
// over veths, IPv4 and IPv6. `default/api` admits only app=bookstore pods
// (and the prefixes 10.9.0.0/16, fd00:9::/64). A denied pod that borrows an
// allowed pod's address (or its node's) sends UDP and a TCP SYN to api:
// nothing arrives (a packet socket in api's namespace sees every frame),
// from the same node and from the other one. The allowed pod's own traffic
// still arrives, a pod annotated with bpfence.io/allowed-source-prefixes
// may send from them (another pod may not), and the drop is counted in
// /metrics as SpoofedSource (and, with BPF, shown by `bpfence flow`).
//
// Run once per dataplane: tag [bpf] or [iptables].
//
// Pods are routed (/32 and /128 host routes to a veth, as Calico and the
// ptp CNI do). A bridged layout is one more PodLink builder (see
// add_dual_stack_pod): the checks do not depend on it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "test_agent_support.h"

using namespace bpfence;
using namespace bpfence::e2e;

namespace {

// What a pod's network looks like from the node. Routed only for now.
enum class PodLink { Routed };

struct PodDef {
  std::string key;  // default/<name>
  std::string app;
  std::string ip4, ip6;
  int node;                 // 0 or 1
  std::string annotation;   // allowed-source-prefixes, "" for none
};

// A sockaddr for an address of either family.
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  Addr(const std::string& ip, uint16_t port) {
    if (ip.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = family = AF_INET6;
      a->sin6_port = htons(port);
      inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
      len = sizeof *a;
    }
  }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Every IP packet that reaches api's interface: (src, proto, dport, tcp flags).
class Sniffer {
 public:
  explicit Sniffer(const lab::NetnsHandle& ns) : fd_(lab::socket_in(ns, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL))) {
    if (fd_.fd >= 0) fcntl(fd_.fd, F_SETFL, O_NONBLOCK);
  }
  bool valid() const { return fd_.fd >= 0; }

  struct Seen {
    std::string src;
    uint8_t proto;
    uint16_t sport, dport;
    uint8_t tcp_flags;
  };

  // Reads what is queued; true once something from src:sport (proto) was seen.
  bool saw(const std::string& src, uint8_t proto, uint16_t sport) {
    drain();
    for (const Seen& s : seen_)
      if (s.src == src && s.proto == proto && s.sport == sport) return true;
    return false;
  }
  bool wait_for(const std::string& src, uint8_t proto, uint16_t sport, int timeout_ms = 5000) {
    return wait_until([&] { return saw(src, proto, sport); }, timeout_ms);
  }

 private:
  void drain() {
    uint8_t buf[2048];
    for (;;) {
      ssize_t n = recv(fd_.fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      Seen s{};
      char text[INET6_ADDRSTRLEN] = {};
      size_t l4 = 0;
      if (n >= 20 && (buf[0] >> 4) == 4) {
        inet_ntop(AF_INET, buf + 12, text, sizeof text);
        s.proto = buf[9];
        l4 = (buf[0] & 0xf) * 4;
      } else if (n >= 40 && (buf[0] >> 4) == 6) {
        inet_ntop(AF_INET6, buf + 8, text, sizeof text);
        s.proto = buf[6];
        l4 = 40;
      } else {
        continue;
      }
      s.src = text;
      if (static_cast<size_t>(n) >= l4 + 4) {
        s.sport = static_cast<uint16_t>(buf[l4] << 8 | buf[l4 + 1]);
        s.dport = static_cast<uint16_t>(buf[l4 + 2] << 8 | buf[l4 + 3]);
      }
      if (s.proto == IPPROTO_TCP && static_cast<size_t>(n) >= l4 + 14) s.tcp_flags = buf[l4 + 13];
      seen_.push_back(s);
    }
  }
  Fd fd_;
  std::vector<Seen> seen_;
};

// The port a bound socket got from the kernel.
uint16_t local_port(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  return ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
}

// A UDP datagram from `src` (bound, so it must be an address of the pod).
// Returns the source port used, 0 on failure.
uint16_t send_udp(const lab::NetnsHandle& ns, const std::string& src, const std::string& dst, uint16_t port) {
  Addr from(src, 0), to(dst, port);
  Fd s(lab::socket_in(ns, from.family, SOCK_DGRAM, 0));
  if (s.fd < 0 || bind(s.fd, from.sa(), from.len)) return 0;
  if (sendto(s.fd, "spoof", 5, 0, to.sa(), to.len) != 5) return 0;
  return local_port(s.fd);
}

// Sends datagrams from `src` until the sniffer sees one, three at most: a
// first datagram can be lost on the way while a hop of the two-node lab
// still resolves its IPv6 neighbour. For what must arrive; what must not is
// sent once.
bool udp_arrives(Sniffer& sniff, const lab::NetnsHandle& ns, const std::string& src, const std::string& dst) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint16_t sport = send_udp(ns, src, dst, 9999);
    if (sport && sniff.wait_for(src, IPPROTO_UDP, sport, 3000)) return true;
  }
  return false;
}

// A TCP SYN from `src`: a non-blocking connect, left pending (the socket is
// returned so the SYN is not followed by anything). Source port in *sport.
std::unique_ptr<Fd> send_syn(const lab::NetnsHandle& ns, const std::string& src, const std::string& dst, uint16_t port,
                             uint16_t* sport) {
  Addr from(src, 0), to(dst, port);
  auto s = std::make_unique<Fd>(lab::socket_in(ns, from.family, SOCK_STREAM, 0));
  *sport = 0;
  if (s->fd < 0 || bind(s->fd, from.sa(), from.len)) return s;
  fcntl(s->fd, F_SETFL, O_NONBLOCK);
  if (connect(s->fd, to.sa(), to.len) == 0 || errno == EINPROGRESS) *sport = local_port(s->fd);
  return s;
}

// A full TCP handshake from the pod's own address (the listener in api
// completes it without accept()).
bool tcp_connects(const lab::NetnsHandle& ns, const std::string& dst, uint16_t port) {
  Addr to(dst, port);
  Fd s(lab::socket_in(ns, to.family, SOCK_STREAM, 0));
  timeval tv{3, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return s.fd >= 0 && connect(s.fd, to.sa(), to.len) == 0;
}

// bpfence_packets_total{action="Drop",reason="SpoofedSource"} on a node.
double spoofed_drops(const Node& n) {
  HttpResult r = n.get("/metrics");
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("bpfence_packets_total{", 0) == 0 && line.find("action=\"Drop\"") != std::string::npos &&
        line.find("reason=\"SpoofedSource\"") != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return 0;
}

std::string yaml_pod(const PodDef& p, const std::string& node_name) {
  std::string name = p.key.substr(p.key.find('/') + 1);
  std::string y = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: default\n  labels: {app: " +
                  p.app + "}\n";
  if (!p.annotation.empty()) y += "  annotations: {bpfence.io/allowed-source-prefixes: \"" + p.annotation + "\"}\n";
  y += "spec: {nodeName: " + node_name + ", containers: [{name: c}]}\n";
  y += "status:\n  podIP: " + p.ip4 + "\n  podIPs: [{ip: " + p.ip4 + "}";
  y += p.ip6.empty() ? "]\n" : ", {ip: \"" + p.ip6 + "\"}]\n";
  return y;
}

const char* kPolicy = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-allow-bookstore, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: bookstore}}
    - ipBlock: {cidr: 10.9.0.0/16}
    - ipBlock: {cidr: "fd00:9::/64"}
    ports:
    - {protocol: UDP, port: 9999}
    - {protocol: TCP, port: 80}
)";

// The pod's IPv6 side, which Node::add_pod (IPv4 only) does not make: its
// address (no DAD wait), a default route via the host veth's fe80::1, and
// the node's /128 route to it.
Status add_ipv6(Node& n, const std::string& key, const std::string& ip6, PodLink link) {
  (void)link;  // PodLink::Routed: the only layout so far
  PodIface& p = n.pod(key);
  if (Status s = lab::ip_batch(p.netns, {"addr add " + ip6 + "/128 dev eth0 nodad",
                                         "route add ::/0 via fe80::1 dev eth0"});
      !s)
    return s;
  return lab::ip_batch(n.node_netns(), {"addr add fe80::1/64 dev " + p.host + " nodad",
                                        "route add " + ip6 + "/128 dev " + p.host});
}

// Two nodes joined by one link, each routing the other's pod prefixes to it.
Status join_nodes(Node& a, Node& b) {
  if (Status s = lab::ip_batch(a.node_netns(), {"link add ul type veth peer name ul netns " + b.node_netns()}); !s)
    return s;
  if (Status s = lab::ip_batch(a.node_netns(), {"addr add 192.0.2.1/24 dev ul", "addr add fd00:ff::1/64 dev ul nodad",
                                                "link set ul up", "route add 10.244.1.0/24 via 192.0.2.2",
                                                "route add fd00:244:1::/64 via fd00:ff::2"});
      !s)
    return s;
  return lab::ip_batch(b.node_netns(), {"addr add 192.0.2.2/24 dev ul", "addr add fd00:ff::2/64 dev ul nodad",
                                        "link set ul up", "route add 10.244.0.0/24 via 192.0.2.1",
                                        "route add fd00:244::/64 via fd00:ff::1"});
}

void run_spoof_checks(const std::string& dataplane) {
  Node n1("sa", BPFENCE_AGENT_BIN), n2("sb", BPFENCE_AGENT_BIN);
  Node* nodes[2] = {&n1, &n2};
  for (Node* n : nodes) {
    BFE2E_REQUIRE_OK(n->setup());
    // rp_filter off, as on many Kubernetes nodes: the node itself does not
    // stop a spoofed source (and bridged traffic never meets it).
    BFE2E_REQUIRE_OK(lab::write_sysctls(n->node_netns(), {{"net/ipv4/conf/default/rp_filter", "0"},
                                                          {"net/ipv6/conf/all/forwarding", "1"}}));
  }
  BFE2E_REQUIRE_OK(join_nodes(n1, n2));

  const std::vector<PodDef> pods = {
      {"default/api", "api", "10.244.0.10", "fd00:244::10", 0, ""},
      {"default/frontend", "bookstore", "10.244.0.11", "fd00:244::11", 0, ""},
      {"default/coffee", "coffee", "10.244.0.12", "fd00:244::12", 0, ""},
      {"default/gw", "gw", "10.244.0.13", "fd00:244::13", 0, "10.9.0.0/16,fd00:9::/64"},
      {"default/frontend2", "bookstore", "10.244.1.11", "fd00:244:1::11", 1, ""},
      {"default/coffee2", "coffee", "10.244.1.12", "fd00:244:1::12", 1, ""},
  };
  std::string manifest = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\n" + std::string(kPolicy);
  for (const PodDef& p : pods) {
    Node& n = *nodes[p.node];
    BFE2E_REQUIRE_OK(n.add_pod(p.key, p.ip4, {}));
    BFE2E_REQUIRE_OK(add_ipv6(n, p.key, p.ip6, PodLink::Routed));
    manifest += "---\n" + yaml_pod(p, n.node_name());
  }
  for (Node* n : nodes) {
    n->write_manifest("cluster.yaml", manifest);
    BFE2E_REQUIRE_OK(n->start_agent({"--dataplane", dataplane}));
  }
  for (Node* n : nodes) {
    auto ready = n->wait_ready(0, 30000);
    INFO(n->agent_log_tail());
    REQUIRE(ready);
  }

  const lab::NetnsHandle& api_ns = *n1.pod("default/api").handle;
  Sniffer sniff(api_ns);
  REQUIRE(sniff.valid());
  Fd listener(lab::socket_in(api_ns, AF_INET6, SOCK_STREAM, 0));
  {
    int off = 0, on = 1;
    setsockopt(listener.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    Addr any("::", 80);
    REQUIRE(bind(listener.fd, any.sa(), any.len) == 0);
    REQUIRE(listen(listener.fd, 64) == 0);
  }

  for (bool v6 : {false, true}) {
    auto ip = [&](const std::string& key) {
      for (const PodDef& p : pods)
        if (p.key == key) return v6 ? p.ip6 : p.ip4;
      return std::string();
    };
    const std::string api = ip("default/api");
    const std::string family = v6 ? "IPv6" : "IPv4";

    // The allowed pods' own traffic arrives, from both nodes.
    for (const char* allowed : {"default/frontend", "default/frontend2"}) {
      Node& n = allowed == std::string("default/frontend") ? n1 : n2;
      INFO(family << " " << allowed << " sends as itself");
      CHECK(udp_arrives(sniff, *n.pod(allowed).handle, ip(allowed), api));
      CHECK(tcp_connects(*n.pod(allowed).handle, api, 80));
    }
    // Sanity: coffee, as itself, is denied by api's policy.
    {
      uint16_t sport = send_udp(*n1.pod("default/coffee").handle, ip("default/coffee"), api, 9999);
      REQUIRE(sport);
      REQUIRE(udp_arrives(sniff, *n1.pod("default/frontend").handle, ip("default/frontend"), api));
      CHECK_FALSE(sniff.saw(ip("default/coffee"), IPPROTO_UDP, sport));
    }

    // A denied pod borrows an address: same node and across nodes. Each
    // spoofed packet must be dropped at the attacker's node, counted there,
    // and never reach api; a control datagram from an allowed pod of the
    // attacker's node is seen at api afterwards, so the sniffer has read
    // past where the spoofed one would be.
    struct Borrow {
      const char* attacker;
      int node;
      std::string address;
      const char* control;  // an allowed pod on the attacker's node
      const char* what;
      std::string to = "";  // "" for api; else the attacker's node (always allowed to a pod as itself)
    };
    std::vector<Borrow> borrows = {
        {"default/coffee", 0, ip("default/frontend"), "default/frontend", "an allowed pod's address, same node"},
        {"default/coffee2", 1, ip("default/frontend"), "default/frontend2", "an allowed pod's address, other node"},
        {"default/coffee2", 1, ip("default/frontend2"), "default/frontend2",
         "an allowed pod's address on its own node, to the other node"},
        {"default/coffee", 0, v6 ? "fd00:9::7" : "10.9.0.7", "default/frontend", "a prefix annotated on another pod"},
    };
    if (!v6) {
      borrows.push_back({"default/coffee", 0, n1.node_ip(), "default/frontend", "its own node's address"});
      borrows.push_back(
          {"default/coffee", 0, ip("default/frontend"), "default/frontend", "an allowed pod's, to its node", "node"});
    }
    for (const Borrow& b : borrows) {
      INFO(family << ": " << b.attacker << " sends from " << b.address << " (" << b.what << ")");
      Node& n = *nodes[b.node];
      const lab::NetnsHandle& ns = *n.pod(b.attacker).handle;
      std::string plen = b.address.find(':') != std::string::npos ? "/128" : "/32";
      BFE2E_REQUIRE_OK(lab::ip_batch(n.pod(b.attacker).netns,
                                     {"addr add " + b.address + plen + " dev eth0" + (v6 ? " nodad" : "")}));
      double before = spoofed_drops(n);
      const std::string to = b.to.empty() ? api : n.node_ip();
      uint16_t usport = send_udp(ns, b.address, to, 9999);
      REQUIRE(usport);
      uint16_t tsport = 0;
      auto syn = send_syn(ns, b.address, to, 80, &tsport);
      REQUIRE(tsport);
      // Both counted as spoofed at the attacker's node (the SYN may be
      // retransmitted meanwhile: at least two).
      CHECK(wait_until([&] { return spoofed_drops(n) >= before + 2; }, 5000, 50));
      REQUIRE(udp_arrives(sniff, *n.pod(b.control).handle, ip(b.control), api));
      CHECK_FALSE(sniff.saw(b.address, IPPROTO_UDP, usport));
      CHECK_FALSE(sniff.saw(b.address, IPPROTO_TCP, tsport));
      BFE2E_REQUIRE_OK(lab::ip_batch(n.pod(b.attacker).netns, {"addr del " + b.address + plen + " dev eth0"}));
    }

    // The annotated pod may send from its prefix; api's policy admits it.
    {
      const lab::NetnsHandle& gw = *n1.pod("default/gw").handle;
      std::string tunnel = v6 ? "fd00:9::1" : "10.9.0.1";
      std::string plen = v6 ? "/128" : "/32";
      BFE2E_REQUIRE_OK(lab::ip_batch(n1.pod("default/gw").netns,
                                     {"addr add " + tunnel + plen + " dev eth0" + (v6 ? " nodad" : "")}));
      INFO(family << ": gw sends from its annotated prefix " << tunnel);
      CHECK(udp_arrives(sniff, gw, tunnel, api));
      uint16_t tsport = 0;
      auto syn = send_syn(gw, tunnel, api, 80, &tsport);
      REQUIRE(tsport);
      CHECK(sniff.wait_for(tunnel, IPPROTO_TCP, tsport));
      // But not from an allowed pod's address.
      BFE2E_REQUIRE_OK(lab::ip_batch(n1.pod("default/gw").netns,
                                     {"addr add " + ip("default/frontend2") + plen + " dev eth0" + (v6 ? " nodad" : "")}));
      double before = spoofed_drops(n1);
      uint16_t spoofed = send_udp(gw, ip("default/frontend2"), api, 9999);
      REQUIRE(spoofed);
      CHECK(wait_until([&] { return spoofed_drops(n1) >= before + 1; }, 5000, 50));
      REQUIRE(udp_arrives(sniff, *n1.pod("default/frontend").handle, ip("default/frontend"), api));
      CHECK_FALSE(sniff.saw(ip("default/frontend2"), IPPROTO_UDP, spoofed));
      BFE2E_REQUIRE_OK(lab::ip_batch(n1.pod("default/gw").netns,
                                     {"addr del " + tunnel + plen + " dev eth0",
                                      "addr del " + ip("default/frontend2") + plen + " dev eth0"}));
    }

    // `bpfence flow` shows the drop with its reason (BPF: the flow table).
    if (dataplane == "bpf") {
      std::string out = run_cli(n1, BPFENCE_CLI_BIN,
                                {"flow", "--node", n1.node_name(), "--bpffs", n1.bpffs(), "--match", (v6 ? "[" + api + "]" : api) + ":9999",
                                 "--action", "drop"},
                                fs::path(n1.agent_log()).parent_path().string() + "/flow.txt");
      INFO(out);
      CHECK(out.find("D(SpoofedSource)") != std::string::npos);
      CHECK(out.find(ip("default/frontend")) != std::string::npos);
      CHECK(out.find("default/coffee ") != std::string::npos);  // the endpoint that sent it
    }
  }
  INFO(n1.agent_log_tail() << "\n" << n2.agent_log_tail());
  CHECK(n1.agent_running());
  CHECK(n2.agent_running());
}

}  // namespace

// On a bridge CNI (flannel, CNI bridge) the pods' veths are ports of cni0
// and same-node traffic is bridged, never routed: iptables sees it only
// through br_netfilter (by bridge port), the BPF program on the pod's veth
// as on a routed node. A borrowed source is dropped either way.
void run_bridge_spoof_checks(const std::string& dataplane) {
  Node n("sbr", BPFENCE_AGENT_BIN);
  n.use_bridge("10.200.7.1/24");
  BFE2E_REQUIRE_OK(n.setup());
  // What bridge-CNI nodes have for iptables-based policy (flannel, kubeadm
  // guides): bridged frames cross the iptables hooks.
  if (dataplane == "iptables")
    BFE2E_REQUIRE_OK(lab::write_sysctls(n.node_netns(), {{"net/bridge/bridge-nf-call-iptables", "1"}}));
  const std::vector<PodDef> pods = {
      {"default/api", "api", "10.200.7.10", "", 0, ""},
      {"default/frontend", "bookstore", "10.200.7.11", "", 0, ""},
      {"default/coffee", "coffee", "10.200.7.12", "", 0, ""},
  };
  std::string manifest = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\n" + std::string(kPolicy);
  for (const PodDef& p : pods) {
    BFE2E_REQUIRE_OK(n.add_pod(p.key, p.ip4, {}));
    manifest += "---\n" + yaml_pod(p, n.node_name());
  }
  n.write_manifest("cluster.yaml", manifest);
  BFE2E_REQUIRE_OK(n.start_agent({"--dataplane", dataplane}));
  {
    auto ready = n.wait_ready(0, 30000);
    INFO(n.agent_log_tail());
    REQUIRE(ready);
  }
  Sniffer sniff(*n.pod("default/api").handle);
  REQUIRE(sniff.valid());
  const lab::NetnsHandle& frontend = *n.pod("default/frontend").handle;
  const lab::NetnsHandle& coffee = *n.pod("default/coffee").handle;

  // frontend as itself reaches api across the bridge (api's policy admits it).
  CHECK(udp_arrives(sniff, frontend, "10.200.7.11", "10.200.7.10"));
  // coffee sends as frontend: dropped at coffee's port, counted, never seen.
  BFE2E_REQUIRE_OK(lab::ip_batch(n.pod("default/coffee").netns, {"addr add 10.200.7.11/32 dev eth0"}));
  const double before = spoofed_drops(n);
  const uint16_t spoofed = send_udp(coffee, "10.200.7.11", "10.200.7.10", 9999);
  REQUIRE(spoofed);
  CHECK(wait_until([&] { return spoofed_drops(n) >= before + 1; }, 5000, 50));
  REQUIRE(udp_arrives(sniff, frontend, "10.200.7.11", "10.200.7.10"));
  CHECK_FALSE(sniff.saw("10.200.7.11", IPPROTO_UDP, spoofed));
}

TEST_CASE("a pod cannot borrow another address: BPF dataplane", "[bpf]") { run_spoof_checks("bpf"); }

TEST_CASE("a pod cannot borrow another address: iptables dataplane", "[iptables]") { run_spoof_checks("iptables"); }

TEST_CASE("on a bridge CNI a pod cannot borrow another address: BPF dataplane", "[bpf]") {
  run_bridge_spoof_checks("bpf");
}

TEST_CASE("on a bridge CNI a pod cannot borrow another address: iptables dataplane", "[iptables]") {
  run_bridge_spoof_checks("iptables");
}
