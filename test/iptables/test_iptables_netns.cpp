// Real TCP through the iptables dataplane: a node namespace with three pod
// namespaces on routed veths (as the lab wires them), rules applied with
// ipset and iptables-restore inside the node namespace, and connections
// that must pass or hang as the policies say: a port not listed, an
// `except` range, a pod whose egress is denied still answering (conntrack),
// an update, a restart that converges, and an uninstall that leaves nothing.
//
// Root only. Without root it prints a SKIP line and exits 77 (ctest skip),
// except in CI (CI=true) where that is a failure.
#define CATCH_CONFIG_RUNNER
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <iostream>
#include <thread>

#include "bpfence/iptables_dataplane.h"
#include "command.h"
#include "conntrack.h"
#include "unit/cluster.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

const std::string kPid = std::to_string(getpid());

// Names unique to this run: namespaces bfi<pid>{n,s,c,x}, host veths the same.
struct Topology {
  std::string node = "bfi" + kPid + "n";
  std::string server = "bfi" + kPid + "s", client = "bfi" + kPid + "c", exclient = "bfi" + kPid + "x";
  std::vector<std::string> created;

  Status ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    return ipt::run_tool(argv);
  }
  Status batch(const std::string& ns, const std::string& lines) {
    return ipt::run_tool({"ip", "-n", ns, "-batch", "-"}, lines);
  }
  Status build() {
    for (const auto& ns : {node, server, client, exclient}) {
      if (Status s = ip({"netns", "add", ns}); !s) return s;
      created.push_back(ns);
      if (Status s = batch(ns, "link set lo up\n"); !s) return s;
    }
    if (Status s = ipt::run_tool({"ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                                  "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"});
        !s)
      return s;
    // The node's own address (on lo: no dummy module needed): the
    // compiler's host identity.
    if (Status s = batch(node, "address add 192.168.77.1/32 dev lo\n"); !s) return s;
    struct Pod {
      std::string ns, ip;
    };
    for (const Pod& p : {Pod{server, "10.77.0.10"}, Pod{client, "10.77.1.10"}, Pod{exclient, "10.77.2.10"}}) {
      // Host side named like the pod's namespace, pod side eth0; a /32 route
      // each way and 169.254.1.1 on the host side as the pods' gateway.
      if (Status s = batch(node, "link add " + p.ns + " type veth peer name eth0 netns " + p.ns + "\n" +
                                     "address add 169.254.1.1/32 dev " + p.ns + "\nlink set " + p.ns + " up\n" +
                                     "route add " + p.ip + "/32 dev " + p.ns + "\n");
          !s)
        return s;
      if (Status s = batch(p.ns, "address add " + p.ip + "/32 dev eth0\nlink set eth0 up\n"
                                 "route add 169.254.1.1/32 dev eth0\nroute add default via 169.254.1.1 dev eth0\n");
          !s)
        return s;
    }
    return Status::ok();
  }
  ~Topology() {
    // Deleting a namespace takes its veths, rules and sets with it.
    for (const auto& ns : created) (void)ipt::run_tool({"ip", "netns", "delete", ns});
  }
};

// A socket created inside a named network namespace (setns is per thread).
int socket_in(const std::string& ns, int type) {
  int fd = -1;
  std::thread t([&] {
    int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return;
    if (setns(nsfd, CLONE_NEWNET) == 0) fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    ::close(nsfd);
  });
  t.join();
  return fd;
}

sockaddr_in addr_of(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
};

Fd listen_in(const std::string& ns, uint16_t port) {
  Fd s(socket_in(ns, SOCK_STREAM));
  REQUIRE(s.fd >= 0);
  int one = 1;
  setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto a = addr_of("0.0.0.0", port);
  REQUIRE(::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(s.fd, 64) == 0);
  fcntl(s.fd, F_SETFL, O_NONBLOCK);
  return s;
}

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & events);
}

// A TCP handshake from `ns` to ip:port, within timeout_ms. Denied traffic is
// dropped, so a denied connect times out.
Fd connect_from(const std::string& ns, const std::string& ip, uint16_t port, int timeout_ms) {
  Fd s(socket_in(ns, SOCK_STREAM));
  REQUIRE(s.fd >= 0);
  fcntl(s.fd, F_SETFL, O_NONBLOCK);
  auto a = addr_of(ip, port);
  int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno != EINPROGRESS) return Fd();
  if (!wait_fd(s.fd, POLLOUT, timeout_ms)) return Fd();
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0 ? std::move(s) : Fd();
}

bool connects(const std::string& ns, const std::string& ip, uint16_t port, bool expect) {
  // Allowed: generous timeout. Denied: long enough that a SYN retry would not help.
  return connect_from(ns, ip, port, expect ? 3000 : 1200).fd >= 0;
}

// The server side of `client`'s connection: earlier probes may still sit
// in the accept queue, so match the client's port.
Fd accept_from(int listen_fd, int client) {
  sockaddr_in mine{};
  socklen_t len = sizeof mine;
  getsockname(client, reinterpret_cast<sockaddr*>(&mine), &len);
  while (wait_fd(listen_fd, POLLIN, 2000)) {
    sockaddr_in peer{};
    len = sizeof peer;
    Fd s(::accept(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len));
    if (s.fd >= 0 && peer.sin_port == mine.sin_port) return s;
  }
  return Fd();
}

// ping from the client, pong from the server: data both ways on one connection.
bool ping_pong(const std::string& from, const std::string& ip, uint16_t port, int listen_fd) {
  Fd c = connect_from(from, ip, port, 3000);
  if (c.fd < 0) return false;
  Fd s = accept_from(listen_fd, c.fd);
  if (s.fd < 0) return false;
  if (::write(c.fd, "ping", 4) != 4 || !wait_fd(s.fd, POLLIN, 2000)) return false;
  char buf[8] = {};
  if (::read(s.fd, buf, sizeof buf) != 4 || std::string(buf, 4) != "ping") return false;
  if (::write(s.fd, "pong", 4) != 4 || !wait_fd(c.fd, POLLIN, 2000)) return false;
  return ::read(c.fd, buf, sizeof buf) == 4 && std::string(buf, 4) == "pong";
}

// Our objects left in the node namespace: sets and chains with the tag.
std::string leftovers(const std::string& ns, const std::string& tag) {
  std::vector<std::string> texts;
  for (std::vector<std::string> argv :
       {std::vector<std::string>{"ipset", "list", "-n"}, {"iptables-nft-save"}, {"iptables-legacy-save"},
        {"ip6tables-nft-save"}, {"ip6tables-legacy-save"}}) {
    std::string text;
    (void)ipt::run_tool(argv, "", &text, ns);
    texts.push_back(text);
  }
  std::string out;
  for (const auto& text : texts) {
    size_t at = 0;
    while ((at = text.find(tag, at)) != std::string::npos) {
      size_t start = text.rfind('\n', at) + 1, end = text.find('\n', at);
      out += text.substr(start, end - start) + "\n";
      at = end;
    }
  }
  return out;
}

const char* kPolicyV1 = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: server, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 10.77.0.0/16, except: [10.77.2.0/24]}}]
    ports: [{port: 8080}]
)";

const char* kPolicyV2 = R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: server, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8081}]
)";

// v2 and one more port: a change to the server that keeps what v2 allows.
std::string policy_v3() {
  std::string v3 = kPolicyV2;
  const std::string ports = "ports: [{port: 8081}]";
  return v3.replace(v3.find(ports), ports.size(), "ports: [{port: 8081}, {port: 8082}]");
}

void check(Status s) {
  INFO(s.message());
  REQUIRE(s.is_ok());
}

// The topology's three pods, all in namespace default, compiled for node-a
// (its address 192.168.77.1); the exclient's label app is `exclient_app`.
Compiler three_pods(const std::string& exclient_app) {
  Cluster cl;
  cl.ns("default");
  cl.pod("default/server", "10.77.0.10", {{"app", "server"}});
  cl.pod("default/client", "10.77.1.10", {{"app", "client"}});
  cl.pod("default/exclient", "10.77.2.10", {{"app", exclient_app}});
  cl.host_ips = {*IpAddress::parse("192.168.77.1")};
  Compiler c({"node-a", cl.host_ips});
  for (const auto& n : cl.namespaces) c.upsert(n);
  for (const auto& p : cl.pods) c.upsert(p);
  return c;
}

// A dataplane in the topology's node namespace, its tag unique to this run.
IptablesDataplaneOptions options_for(const Topology& topo, const std::string& backend, const std::string& tag_stem) {
  IptablesDataplaneOptions opts;
  opts.node = "node-a";
  opts.netns = topo.node;
  opts.backend = backend;
  opts.tag = tag_stem + kPid.substr(kPid.size() > 5 ? kPid.size() - 5 : 0);
  return opts;
}

void bind_three(IptablesDataplane& dp, const Topology& topo, const DesiredState& s) {
  check(dp.bind({"default/server", 0, topo.server}, s));
  check(dp.bind({"default/client", 0, topo.client}, s));
  check(dp.bind({"default/exclient", 0, topo.exclient}, s));
}

}  // namespace

TEST_CASE("iptables dataplane: real TCP allowed and denied as the policies say", "[iptables][e2e]") {
  // Both variants of iptables, each on a fresh topology.
  const std::string backend = GENERATE(as<std::string>{}, "nft", "legacy");
  INFO("backend " << backend);
  Topology topo;
  check(topo.build());
  const std::string server_ip = "10.77.0.10", client_ip = "10.77.1.10", exclient_ip = "10.77.2.10";
  Compiler c = three_pods("client");
  auto diff = c.commit();
  IptablesDataplaneOptions opts = options_for(topo, backend, "e2e");
  auto dp = std::make_unique<IptablesDataplane>(opts);
  check(dp->open());
  CHECK(dp->backend() == backend);
  check(dp->apply(diff, c.state()));
  bind_three(*dp, topo, c.state());
  CHECK(dp->bindings().size() == 3);

  Fd s8080 = listen_in(topo.server, 8080), s8081 = listen_in(topo.server, 8081);
  Fd c9000 = listen_in(topo.client, 9000), x9000 = listen_in(topo.exclient, 9000);

  // No policy yet: everything flows.
  CHECK(connects(topo.client, server_ip, 8080, true));
  CHECK(connects(topo.server, client_ip, 9000, true));

  Cluster v1;
  v1.policy(kPolicyV1);
  c.upsert(v1.policies[0]);
  check(dp->apply(c.commit(), c.state()));
  INFO("rules after v1:\n" << dp->last_apply().iptables_v4);

  // The ipBlock admits the client on 8080 only; the except range is out.
  CHECK(ping_pong(topo.client, server_ip, 8080, s8080.fd));  // replies pass the server's denied egress
  CHECK_FALSE(connects(topo.client, server_ip, 8081, false));
  CHECK_FALSE(connects(topo.exclient, server_ip, 8080, false));
  CHECK_FALSE(connects(topo.server, client_ip, 9000, false));  // egress isolated, no rules
  CHECK(connects(topo.client, exclient_ip, 9000, true));        // unrelated pods: not isolated

  // What flow --match and the counters read in this mode: conntrack holds
  // the allowed flows only; the rules' counters say what was dropped.
  {
    std::vector<ConntrackEntry> ct;
    check(iptables_conntrack(opts, &ct));
    auto ip = [](const std::string& t) { return *IpAddress::parse(t); };
    auto seen = [&](const std::string& from, uint16_t port) {
      return std::any_of(ct.begin(), ct.end(), [&](const ConntrackEntry& e) {
        return e.proto == 6 && e.src == ip(from) && e.dst == ip(server_ip) && e.dport == port;
      });
    };
    CHECK(seen(client_ip, 8080));
    CHECK_FALSE(seen(exclient_ip, 8080));
    CHECK_FALSE(seen(client_ip, 8081));
    std::vector<RuleCounter> counters;
    check(iptables_counters(opts, &counters));
    std::map<std::pair<int, int>, uint64_t> packets;
    for (const auto& c : counters) packets[{c.action, c.reason}] += c.packets;
    CHECK(packets[{BF_ACT_DROP, BF_R_FW_POLICY}] > 0);
    CHECK(packets[{BF_ACT_FORWARD, BF_R_POLICY}] > 0);
    CHECK(packets[{BF_ACT_FORWARD, BF_R_REPLY}] > 0);
  }

  // A connection established now is cut by the update below, which denies
  // new ones like it: conntrack's ESTABLISHED accept comes first (as in
  // Calico's and kube-router's rules), so the dataplane deletes the changed
  // pod's conntrack entries after the new rules are in (recheck_established,
  // the default) and the next packet meets them, as the BPF datapath
  // decides such flows again on a policy change.
  Fd kept = connect_from(topo.client, server_ip, 8080, 3000);
  REQUIRE(kept.fd >= 0);
  Fd kept_srv = accept_from(s8080.fd, kept.fd);
  REQUIRE(kept_srv.fd >= 0);

  Cluster v2;
  v2.policy(kPolicyV2);
  c.upsert(v2.policies[0]);
  diff = c.commit();
  check(dp->apply(diff, c.state()));
  {
    // An update is a rewrite of the server's chains and new sets; the FWD
    // chain and the other endpoints stay as they are.
    const auto& t = dp->last_apply();
    INFO(t.ipset_prepare << t.iptables_v4 << t.ipset_cleanup);
    CHECK(t.iptables_v4.find(":BPFENCE-" + opts.tag + "-FWD") == std::string::npos);
    CHECK_FALSE(t.ipset_cleanup.empty());  // the ipBlock's set went
  }
  CHECK(ping_pong(topo.client, server_ip, 8081, s8081.fd));
  CHECK(connects(topo.exclient, server_ip, 8081, true));  // a client by label now, except no longer applies
  CHECK_FALSE(connects(topo.client, server_ip, 8080, false));
  CHECK(::write(kept.fd, "x", 1) == 1);  // queued locally; the node drops it
  CHECK_FALSE(wait_fd(kept_srv.fd, POLLIN, 1000));

  // A connection the next update still allows goes on, whichever side
  // speaks first: only the flows the new rules deny lose their conntrack
  // entries. (The server's egress is isolated: without its entry, the
  // server's first segment would be a new flow out of it, and dropped.)
  Fd kept81 = connect_from(topo.client, server_ip, 8081, 3000);
  REQUIRE(kept81.fd >= 0);
  Fd kept81_srv = accept_from(s8081.fd, kept81.fd);
  REQUIRE(kept81_srv.fd >= 0);
  Cluster v3;
  v3.policy(policy_v3());
  c.upsert(v3.policies[0]);
  check(dp->apply(c.commit(), c.state()));
  CHECK(::write(kept81_srv.fd, "y", 1) == 1);
  CHECK(wait_fd(kept81.fd, POLLIN, 2000));

  // A restarted agent (a new dataplane object) converges from the kernel:
  // it takes the bindings over from the FWD chain, so the first apply
  // keeps enforcing before any bind; the sets are already right.
  dp.reset();
  dp = std::make_unique<IptablesDataplane>(opts);
  check(dp->open());
  check(dp->apply(StateDiff{}, c.state()));
  // Every bound pod has its source check in SRC, so every binding is in the
  // kernel (only the server has policy rules).
  {
    std::set<std::string> taken;
    for (const auto& b : dp->bindings()) taken.insert(b.ifname);
    CHECK(taken == std::set<std::string>{topo.server, topo.client, topo.exclient});
  }
  {
    const auto& t = dp->last_apply();
    INFO(t.ipset_prepare << t.iptables_v4 << t.ipset_cleanup);
    CHECK(t.ipset_prepare.empty());
    CHECK(t.ipset_cleanup.empty());
    CHECK(t.iptables_v4.find("-X ") == std::string::npos);
  }
  CHECK(connects(topo.client, server_ip, 8081, true));
  CHECK_FALSE(connects(topo.client, server_ip, 8080, false));
  bind_three(*dp, topo, c.state());
  CHECK(dp->last_apply().iptables_v4.find("-X ") == std::string::npos);
  CHECK(connects(topo.client, server_ip, 8081, true));
  CHECK_FALSE(connects(topo.client, server_ip, 8080, false));

  // Fail-closed: new flows to the server drop until an apply clears it.
  check(dp->set_fail_closed("default/server", true));
  CHECK_FALSE(connects(topo.client, server_ip, 8081, false));
  check(dp->set_fail_closed("default/server", false));
  CHECK(connects(topo.client, server_ip, 8081, true));

  // Policy gone: open again.
  c.erase_policy("default/server");
  check(dp->apply(c.commit(), c.state()));
  CHECK(connects(topo.server, client_ip, 9000, true));
  CHECK(connects(topo.client, server_ip, 8080, true));

  CHECK(leftovers(topo.node, opts.tag).find("BPFENCE-" + opts.tag + "-FWD") != std::string::npos);
  check(dp->uninstall());
  CHECK(leftovers(topo.node, opts.tag) == "");
  CHECK(dp->bindings().empty());
}

namespace {

// A TCP connection from the node's own address 192.168.77.1 (not the
// veth's 169.254.1.1 the route would pick) to ip:port.
Fd connect_from_node_address(const std::string& node_ns, const std::string& ip, uint16_t port) {
  Fd s(socket_in(node_ns, SOCK_STREAM));
  REQUIRE(s.fd >= 0);
  auto local = addr_of("192.168.77.1", 0);
  REQUIRE(::bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  fcntl(s.fd, F_SETFL, O_NONBLOCK);
  auto a = addr_of(ip, port);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) return Fd();
  if (!wait_fd(s.fd, POLLOUT, 3000)) return Fd();
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0 ? std::move(s) : Fd();
}

// An Admin Deny from the client to the node's own address: on `port`, or
// on every TCP port when port is 0.
std::string deny_to_node(uint16_t port) {
  std::string protocols = port ? ", protocols: [{tcp: {destinationPort: {number: " + std::to_string(port) + "}}}]"
                               : ", protocols: [{tcp: {destinationPort: {range: {start: 1, end: 65535}}}}]";
  return R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: client-not-to-node}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}}
  egress:
  - {name: node, action: Deny, to: [{networks: [192.168.77.1/32]}])" +
         protocols + "}\n";
}

}  // namespace

// What a pod sends to its own node crosses INPUT, not FORWARD.
TEST_CASE("iptables dataplane: a ClusterNetworkPolicy egress Deny covers what a pod sends to its own node",
          "[iptables][e2e][cnp]") {
  const std::string backend = GENERATE(as<std::string>{}, "nft", "legacy");
  INFO("backend " << backend);
  Topology topo;
  check(topo.build());
  const std::string client_ip = "10.77.1.10", node_ip = "192.168.77.1";
  Compiler c = three_pods("other");
  auto diff = c.commit();
  IptablesDataplaneOptions opts = options_for(topo, backend, "lo");
  auto dp = std::make_unique<IptablesDataplane>(opts);
  check(dp->open());
  check(dp->apply(diff, c.state()));
  bind_three(*dp, topo, c.state());
  Fd kubelet = listen_in(topo.node, 10250), other = listen_in(topo.node, 10251);
  Fd c9000 = listen_in(topo.client, 9000);
  CHECK(connects(topo.client, node_ip, 10250, true));
  // No ClusterNetworkPolicy stage: no LOCAL chain, no INPUT jump.
  CHECK(leftovers(topo.node, opts.tag).find("-LOCAL") == std::string::npos);

  Fd kept = connect_from(topo.client, node_ip, 10250, 3000);
  REQUIRE(kept.fd >= 0);
  Fd kept_srv = accept_from(kubelet.fd, kept.fd);
  REQUIRE(kept_srv.fd >= 0);

  auto apply_cnp = [&](const std::string& yaml) {
    Cluster p;
    p.policy(yaml);
    REQUIRE(p.cluster_policies.size() == 1);
    c.upsert(p.cluster_policies[0]);
    check(dp->apply(c.commit(), c.state()));
    INFO("rules:\n" << dp->last_apply().iptables_v4);
  };
  apply_cnp(deny_to_node(10250));
  CHECK_FALSE(connects(topo.client, node_ip, 10250, false));
  CHECK(connects(topo.client, node_ip, 10251, true));    // another port
  CHECK(connects(topo.exclient, node_ip, 10250, true));  // not the subject
  // The connection established before the Deny is cut like a forwarded one.
  CHECK(::write(kept.fd, "x", 1) == 1);
  CHECK_FALSE(wait_fd(kept_srv.fd, POLLIN, 1000));

  // Every TCP port to the node denied: the node's own connections to the
  // pod still get their replies (established flows return from LOCAL).
  apply_cnp(deny_to_node(0));
  CHECK_FALSE(connects(topo.client, node_ip, 10251, false));
  CHECK(connect_from_node_address(topo.node, client_ip, 9000).fd >= 0);

  // The policy gone: the chain and its INPUT jump go, the node is reachable.
  c.erase_cluster_policy("client-not-to-node");
  check(dp->apply(c.commit(), c.state()));
  CHECK(leftovers(topo.node, opts.tag).find("-LOCAL") == std::string::npos);
  CHECK(connects(topo.client, node_ip, 10250, true));

  apply_cnp(deny_to_node(10250));
  // A restarted agent finds the chain and its jump, and keeps one jump.
  dp.reset();
  dp = std::make_unique<IptablesDataplane>(opts);
  check(dp->open());
  check(dp->apply(StateDiff{}, c.state()));
  {
    std::string left = leftovers(topo.node, opts.tag), jump = "-j BPFENCE-" + opts.tag + "-LOCAL";
    INFO(left);
    size_t jumps = 0;
    for (size_t at = left.find(jump); at != std::string::npos; at = left.find(jump, at + 1)) ++jumps;
    CHECK(jumps == 2);  // one INPUT jump per family (IPv4, IPv6)
  }
  CHECK_FALSE(connects(topo.client, node_ip, 10250, false));
  check(dp->uninstall());
  CHECK(leftovers(topo.node, opts.tag) == "");
}

// Established flows client -> server, as `conntrack -I` makes them: one
// per source port from first_port, to dport.
void insert_flows(const std::string& ns, const char* proto, uint16_t dport, int first_port, int count) {
  std::string script;
  for (int port = first_port; port < first_port + count; ++port)
    script += std::string("conntrack -I -s 10.77.1.10 -d 10.77.0.10 -p ") + proto + " --sport " +
              std::to_string(port) + " --dport " + std::to_string(dport) +
              (std::string(proto) == "tcp" ? " --state ESTABLISHED -u SEEN_REPLY,ASSURED" : " -u SEEN_REPLY") +
              " -t 300 >/dev/null 2>&1\n";
  REQUIRE(ipt::run_tool({"sh", "-s"}, script, nullptr, ns).is_ok());
}

TEST_CASE("conntrack: only the flows no longer allowed lose their entries, even when others delete too",
          "[iptables][e2e]") {
  const std::string ns = "bfi" + kPid + "t";
  REQUIRE(ipt::run_tool({"ip", "netns", "add", ns}).is_ok());
  struct Remove {
    std::string ns;
    ~Remove() { (void)ipt::run_tool({"ip", "netns", "delete", ns}); }
  } remove{ns};
  ipt::Tools tools;
  tools.netns = ns;
  const IpAddress client = *IpAddress::parse("10.77.1.10"), server = *IpAddress::parse("10.77.0.10");
  auto count = [&](uint8_t proto, uint16_t dport) {
    std::vector<ConntrackEntry> now;
    REQUIRE(ipt::list_conntrack(tools, &now).is_ok());
    return std::count_if(now.begin(), now.end(),
                         [&](const ConntrackEntry& e) { return e.proto == proto && e.dport == dport; });
  };

  SECTION("denied flows go, allowed ones stay, one call per flow and port") {
    insert_flows(ns, "tcp", 80, 20000, 20);
    insert_flows(ns, "tcp", 81, 21000, 20);
    insert_flows(ns, "udp", 53, 22000, 20);
    REQUIRE(count(6, 80) == 20);
    REQUIRE(count(17, 53) == 20);
    size_t deletes = 0;
    auto still_allowed = [](const ConntrackEntry& e) { return e.dport == 81; };
    Status s = ipt::forget_flows(tools, {server}, still_allowed, &deletes);
    INFO(s.message());
    CHECK(s.is_ok());
    CHECK(deletes == 2);  // tcp to 80, udp to 53
    CHECK(count(6, 80) == 0);
    CHECK(count(17, 53) == 0);
    CHECK(count(6, 81) == 20);
    // Addresses not asked about keep theirs, whatever the verdict.
    CHECK(ipt::forget_flows(tools, {*IpAddress::parse("10.77.9.9")}, [](auto&) { return false; }, &deletes));
    CHECK(deletes == 0);
    CHECK(count(6, 81) == 20);
  }

  SECTION("a conntrack -D that meets entries deleted under it runs again until none is left") {
    // Another `conntrack -D` over the same entries runs beside ours; the one
    // that meets an entry the other just deleted gives up halfway.
    for (int round = 0; round < 3; ++round) {
      INFO("round " << round);
      insert_flows(ns, "tcp", 80, 20000, 300);
      REQUIRE(count(6, 80) == 300);
      std::thread other([&] { (void)ipt::run_tool({"conntrack", "-D", "-f", "ipv4", "-s", "10.77.1.10"}, "", nullptr, ns); });
      size_t deletes = 0;
      Status s = ipt::forget_flows(tools, {client, server}, [](auto&) { return false; }, &deletes);
      other.join();
      INFO(s.message());
      CHECK(s.is_ok());
      CHECK(count(6, 80) == 0);
    }
  }
}

int main(int argc, char** argv) {
  bool ci = std::getenv("CI") && std::string(std::getenv("CI")) == "true";
  std::string why;
  if (geteuid() != 0) why = "needs root (network namespaces, iptables, ipset)";
  std::string out;
  if (why.empty() && !ipt::run_tool({"ipset", "version"}, "", &out).is_ok()) why = "ipset does not run";
  if (!why.empty()) {
    std::cerr << "SKIP iptables_netns_test: " << why << "\n";
    return ci ? 1 : 77;
  }
  return Catch::Session().run(argc, argv);
}
