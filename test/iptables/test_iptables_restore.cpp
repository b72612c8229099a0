// The input the tools get: a full install, incremental changes that touch
// only what changed (ipset add/del for a new pod, one chain for one
// endpoint's policy), converging from what an earlier agent left, and
// uninstall. Plus the parsers of `ipset save` and `iptables-save`.
#include "fixture.h"
#include "kernel_state.h"

using namespace bpfence;
using namespace bpfence::test;
using ipt::Family;

namespace {

Cluster small() {
  Cluster c;
  c.ns("default");
  c.pod("default/web", "10.0.0.10", {{"app", "web"}});
  c.pod("default/client", "10.0.0.11", {{"app", "client"}});
  c.host_ips = {*IpAddress::parse("192.168.0.1")};
  return c;
}

NetworkPolicy web_policy(uint16_t port) {
  Cluster tmp;
  tmp.policy(R"(
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: )" + std::to_string(port) + "}]\n");
  return tmp.policies.at(0);
}

Compiler compiler_of(const Cluster& c) {
  Compiler comp({"node-a", c.host_ips});
  for (const auto& n : c.namespaces) comp.upsert(n);
  for (const auto& p : c.pods) comp.upsert(p);
  for (const auto& p : c.policies) comp.upsert(p);
  comp.commit();
  return comp;
}

// The incremental renderer and what the kernel holds, side by side.
struct Node {
  ipt::Renderer r{test_names(), false};
  ipt::Applied kernel;

  ipt::RestoreTexts push() {
    ipt::Changes ch = r.take_changes();
    ipt::RestoreTexts t = ipt::restore_texts(kernel, r.model(), ch, test_names(), false);
    ipt::patch_applied(kernel, r.model(), ch, test_names(), false);
    return t;
  }
};

std::string id_text(uint32_t id) { return std::to_string(id); }

}  // namespace

TEST_CASE("a first install creates the sets, the chains and the FORWARD jump in one transaction",
          "[iptables][restore]") {
  auto cl = small();
  cl.policies.push_back(web_policy(80));
  auto c = compiler_of(cl);
  Node n;
  REQUIRE(n.r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
  auto t = n.push();
  std::string set = set_of({identity_of(c, "default/client")});
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  CHECK(t.ipset_prepare == "create " + set +
                               " hash:net family inet hashsize 1024 maxelem 1048576\n"
                               "add " + set + " 10.0.0.11/32\n"
                               "create bpfence-t1-host-4 hash:net family inet hashsize 1024 maxelem 1048576\n"
                               "add bpfence-t1-host-4 192.168.0.1/32\n");
  std::string s_client = test_names().source_chain(c.state().endpoints.at("default/client").endpoint_id);
  std::string s_web = test_names().source_chain(c.state().endpoints.at("default/web").endpoint_id);
  CHECK(t.iptables_v4 == "*filter\n"
                         ":BPFENCE-t1-FWD - [0:0]\n"
                         ":" + in + " - [0:0]\n"
                         ":" + s_client + " - [0:0]\n"
                         ":" + s_web + " - [0:0]\n"
                         ":BPFENCE-t1-SRC - [0:0]\n"
                         "-A BPFENCE-t1-FWD -j BPFENCE-t1-SRC\n"
                         "-A BPFENCE-t1-FWD -o v-web -m comment --comment \"default/web\" -j " + in + "\n"
                         "-A BPFENCE-t1-FWD ! -o v-web -d 10.0.0.10/32 -m comment --comment \"default/web\" -j " +
                             in + "\n"
                         "-A " + in + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                         "-A " + in + " -m conntrack --ctstate INVALID -j DROP\n"
                         "-A " + in + " -m set --match-set bpfence-t1-host-4 src -j RETURN\n"
                         "-A " + in + " -s 10.0.0.10/32 -j RETURN\n"
                         "-A " + in + " -p tcp -m tcp --dport 80 -m set --match-set " + set + " src -j RETURN\n"
                         "-A " + in + " -j DROP\n"
                         "-A " + s_client + " -s 10.0.0.11/32 -j RETURN\n"
                         "-A " + s_client + " -m comment --comment \"spoofed source\" -j DROP\n"
                         "-A " + s_web + " -s 10.0.0.10/32 -j RETURN\n"
                         "-A " + s_web + " -m comment --comment \"spoofed source\" -j DROP\n"
                         "-A BPFENCE-t1-SRC -i v-client -m comment --comment \"default/client\" -j " + s_client + "\n"
        "-A BPFENCE-t1-SRC -m physdev --physdev-in v-client -m comment --comment \"default/client\" -j " + s_client + "\n"
                         "-A BPFENCE-t1-SRC -i v-web -m comment --comment \"default/web\" -j " + s_web + "\n"
        "-A BPFENCE-t1-SRC -m physdev --physdev-in v-web -m comment --comment \"default/web\" -j " + s_web + "\n"
                         "-I FORWARD 1 -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD\n"
                         "-I INPUT 1 -m comment --comment \"bpfence t1\" -j BPFENCE-t1-SRC\n"
                         "COMMIT\n");
  CHECK(t.iptables_v6.empty());  // ipv6 off
  CHECK(t.ipset_cleanup.empty());
  // Nothing changed, nothing to send.
  CHECK(n.push().empty());
}

TEST_CASE("incremental changes touch only what changed", "[iptables][restore]") {
  auto cl = small();
  cl.policies.push_back(web_policy(80));
  auto c = compiler_of(cl);
  Node n;
  REQUIRE(n.r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
  (void)n.push();
  std::string set = set_of({identity_of(c, "default/client")});
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  auto ifnames = bind_all(c.state());

  SECTION("a new pod of an existing identity is one ipset add, no iptables change") {
    Cluster more;
    more.pod("default/client-2", "10.0.0.21", {{"app", "client"}}, {}, "node-b");
    c.upsert(more.pods[0]);
    auto diff = c.commit();
    REQUIRE(n.r.render_changes(c.state(), diff, ifnames, {}, {}).is_ok());
    auto t = n.push();
    CHECK(t.ipset_prepare == "add " + set + " 10.0.0.21/32\n");
    CHECK(t.iptables_v4.empty());
    CHECK(t.ipset_cleanup.empty());

    c.erase_pod("default/client-2");
    diff = c.commit();
    REQUIRE(n.r.render_changes(c.state(), diff, ifnames, {}, {}).is_ok());
    t = n.push();
    CHECK(t.ipset_prepare == "del " + set + " 10.0.0.21/32\n");
    CHECK(t.iptables_v4.empty());
  }

  SECTION("a policy's port change rewrites that endpoint's chain only") {
    c.upsert(web_policy(8080));
    auto diff = c.commit();
    REQUIRE(n.r.render_changes(c.state(), diff, ifnames, {}, {}).is_ok());
    auto t = n.push();
    CHECK(t.ipset_prepare.empty());
    CHECK(t.iptables_v4.find(":" + in + " - [0:0]\n") != std::string::npos);
    CHECK(t.iptables_v4.find("--dport 8080 -m set --match-set " + set) != std::string::npos);
    CHECK(t.iptables_v4.find("BPFENCE-t1-FWD") == std::string::npos);
    CHECK(t.iptables_v4.find("-I FORWARD") == std::string::npos);
  }

  SECTION("deleting the policy removes the chain after the dispatch stops jumping to it, then the set") {
    c.erase_policy("default/web");
    auto diff = c.commit();
    REQUIRE(n.r.render_changes(c.state(), diff, ifnames, {}, {}).is_ok());
    auto t = n.push();
    CHECK(t.ipset_prepare.empty());
    CHECK(t.iptables_v4 ==
          "*filter\n:BPFENCE-t1-FWD - [0:0]\n-A BPFENCE-t1-FWD -j BPFENCE-t1-SRC\n-F " + in + "\n-X " + in + "\nCOMMIT\n");
    CHECK(t.ipset_cleanup == "destroy " + set + "\n");
  }

  SECTION("unbinding a pod drops its chain and its jump") {
    ifnames.erase("default/web");
    n.r.remove_pod("default/web");
    auto t = n.push();
    std::string s_client = test_names().source_chain(c.state().endpoints.at("default/client").endpoint_id);
    std::string s_web = test_names().source_chain(c.state().endpoints.at("default/web").endpoint_id);
    CHECK(t.iptables_v4 == "*filter\n:BPFENCE-t1-FWD - [0:0]\n:BPFENCE-t1-SRC - [0:0]\n"
                           "-A BPFENCE-t1-FWD -j BPFENCE-t1-SRC\n"
                           "-A BPFENCE-t1-SRC -i v-client -m comment --comment \"default/client\" -j " + s_client + "\n"
        "-A BPFENCE-t1-SRC -m physdev --physdev-in v-client -m comment --comment \"default/client\" -j " + s_client + "\n"
                           "-F " + in + "\n-F " + s_web + "\n-X " + in + "\n-X " + s_web + "\nCOMMIT\n");
    CHECK(t.ipset_cleanup == "destroy " + set + "\n");
  }

  SECTION("fail-closed replaces the chain's rules, and clearing it puts them back") {
    n.r.set_fail_closed("default/client", true);
    auto t = n.push();
    auto client = c.state().endpoints.at("default/client").endpoint_id;
    CHECK(t.iptables_v4.find(":BPFENCE-t1-E" + id_text(client) + " - [0:0]") != std::string::npos);
    CHECK(t.iptables_v4.find(":BPFENCE-t1-I" + id_text(client) + " - [0:0]") != std::string::npos);
    n.r.set_fail_closed("default/client", false);
    t = n.push();
    CHECK(t.iptables_v4.find("-X BPFENCE-t1-E" + id_text(client)) != std::string::npos);
    CHECK(t.iptables_v4.find("-X BPFENCE-t1-I" + id_text(client)) != std::string::npos);
  }
}

TEST_CASE("a restarted agent converges from what the kernel holds", "[iptables][restore]") {
  auto cl = small();
  cl.policies.push_back(web_policy(80));
  auto c = compiler_of(cl);
  std::string set = set_of({identity_of(c, "default/client")});
  std::string in = chain_of(c, "default/web", BF_DIR_INGRESS);
  ipt::Applied kernel;
  REQUIRE(ipt::parse_ipset_save("create other-set hash:ip family inet hashsize 1024 maxelem 65536\n"
                                "add other-set 1.2.3.4\n"
                                "create " + set + " hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x1\n"
                                "add " + set + " 10.0.0.11\n"
                                "add " + set + " 10.0.0.99\n"
                                "add " + set + " 10.9.0.0/16 nomatch\n"
                                "create bpfence-t1-00000000dead-4 hash:net family inet hashsize 1024 maxelem 1048576\n",
                                test_names(), &kernel.sets)
              .is_ok());
  REQUIRE(kernel.sets.size() == 2);
  CHECK(kernel.sets.at(set).entries.at(*Prefix::parse("10.9.0.0/16")));
  ipt::parse_iptables_save("# Generated by iptables-save\n*nat\n:BPFENCE-t1-FWD - [0:0]\nCOMMIT\n"
                           "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:BPFENCE-t1-FWD - [0:0]\n"
                           ":BPFENCE-t1-I99 - [0:0]\n:BPFENCE-t2-FWD - [0:0]\n"
                           "-A FORWARD -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD\n"
                           "-A FORWARD -j BPFENCE-t1-FWDX\n"
                           "-A BPFENCE-t1-FWD -o v-old -m comment --comment \"default/old\" -j BPFENCE-t1-I99\n"
                           "-A BPFENCE-t1-FWD -i v-web -m comment --comment default/web -j BPFENCE-t1-E3\nCOMMIT\n",
                           test_names(), &kernel.chains_v4, &kernel.jumps_v4, &kernel.dispatch);
  // The pods it dispatched, quoted comment or not: a restarted agent takes them over.
  CHECK(kernel.dispatch == std::map<std::string, std::string>{{"default/old", "v-old"}, {"default/web", "v-web"}});
  CHECK(kernel.chains_v4.size() == 2);  // FWD and I99, rules unknown
  CHECK(kernel.jumps_v4 == std::vector<std::string>{"-A FORWARD -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD"});

  ipt::Renderer r(test_names(), false);
  REQUIRE(r.render_all(c.state(), bind_all(c.state()), {}).is_ok());
  auto ch = r.take_changes();
  CHECK(ch.all);
  auto t = ipt::restore_texts(kernel, r.model(), ch, test_names(), false);
  CHECK(t.ipset_prepare == "del " + set + " 10.0.0.99/32\ndel " + set + " 10.9.0.0/16\n"
                           "create bpfence-t1-host-4 hash:net family inet hashsize 1024 maxelem 1048576\n"
                           "add bpfence-t1-host-4 192.168.0.1/32\n");
  // Every chain is rewritten (its rules were unknown), the old one goes, the jump stays.
  CHECK(t.iptables_v4.find(":BPFENCE-t1-FWD - [0:0]\n") != std::string::npos);
  CHECK(t.iptables_v4.find(":" + in + " - [0:0]\n") != std::string::npos);
  CHECK(t.iptables_v4.find("-F BPFENCE-t1-I99\n-X BPFENCE-t1-I99\n") != std::string::npos);
  CHECK(t.iptables_v4.find("-I FORWARD") == std::string::npos);
  CHECK(t.ipset_cleanup == "destroy bpfence-t1-00000000dead-4\n");
}

TEST_CASE("a set of ours with another type cannot be reused", "[iptables][restore]") {
  std::map<std::string, ipt::Ipset> sets;
  auto s = ipt::parse_ipset_save("create bpfence-t1-host-4 hash:ip family inet hashsize 1024 maxelem 65536\n",
                                 test_names(), &sets);
  CHECK_FALSE(s.is_ok());
  CHECK(s.message().find("bpfence-t1-host-4") != std::string::npos);
}

TEST_CASE("uninstall deletes the jumps, flushes then deletes the chains, then destroys the sets",
          "[iptables][restore]") {
  ipt::Applied have;
  have.chains_v4["BPFENCE-t1-FWD"] = std::nullopt;
  have.chains_v4["BPFENCE-t1-I3"] = std::nullopt;
  have.jumps_v4 = {"-A FORWARD -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD"};
  have.sets["bpfence-t1-host-4"] = {};
  auto t = ipt::uninstall_texts(have);
  CHECK(t.iptables_v4 == "*filter\n-D FORWARD -m comment --comment \"bpfence t1\" -j BPFENCE-t1-FWD\n"
                         "-F BPFENCE-t1-FWD\n-F BPFENCE-t1-I3\n-X BPFENCE-t1-FWD\n-X BPFENCE-t1-I3\nCOMMIT\n");
  CHECK(t.iptables_v6.empty());
  CHECK(t.ipset_cleanup == "destroy bpfence-t1-host-4\n");
}
