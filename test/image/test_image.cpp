// The container image as the DaemonSet runs it (label `image`, root).
// scripts/image.sh builds the image (no registry: debootstrap + podman) from
// this build's binaries under a test tag; podman then starts it with the
// settings read from manifests/daemonset.yaml (daemonset_podman.h): in a lab
// node's network namespace, host bpffs bind-mounted, only the capabilities
// it adds, read-only root filesystem, no privilege escalation, the same
// arguments, in-cluster config pointing at a fake API server (HTTPS, service
// account token and CA mounted where the kubelet puts them). Real packets
// show: the denied probe dropped and the allowed one passing, /readyz 200,
// enforcement kept after the container stops, and `--uninstall` run from
// the image removing it. Every container, the image and the namespaces go
// away also when the test fails.
//
// seccompProfile RuntimeDefault: current runtimes' default profiles let a
// container holding CAP_BPF call bpf() and one holding CAP_PERFMON call
// perf_event_open(); Debian 12's podman (containers-common 0.50) still
// reserves both to CAP_SYS_ADMIN. The test runs podman's own default profile
// with just that difference (runtime_default_profile()), as the DaemonSet
// gets on a current runtime (manifests/README.md says what to do on an old
// one).
//
// BFIMG_CAPS=BPF,NET_ADMIN replaces the manifest's capabilities (to see the
// test fail when one is missing).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "daemonset_podman.h"
#include "fake_api_server.h"
#include "kube_test_util.h"
#include "test_agent_support.h"

namespace {

namespace fs = std::filesystem;
using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::imagetest::AgentContainer;
using bpfence::imagetest::RunContext;
using bpfence::test::FakeApiServer;

const char* kWeb = "10.202.0.10";
const char* kClient = "10.202.0.11";
const char* kOther = "10.202.0.12";
const char* kToken = "image-test-token";
const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string run(const std::vector<std::string>& argv, bool* ok = nullptr) {
  std::string out;
  bpfence::Status s = bpfence::lab::run_command(argv, "", &out);
  if (ok) *ok = s.is_ok();
  return s ? out : out + s.message();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i <= s.size();) {
    size_t j = std::min(s.find(',', i), s.size());
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Removes what the test made in podman and the agent's pins, whatever
// happened before.
struct PodmanGuard {
  std::string image, container, uninstall_container, node, archive;
  ~PodmanGuard() {
    std::error_code ec;
    if (!archive.empty()) fs::remove(archive, ec);
    for (const auto& c : {container, uninstall_container})
      if (!c.empty()) (void)bpfence::lab::run_command({"podman", "rm", "--force", "--ignore", c});
    if (!image.empty()) (void)bpfence::lab::run_command({"podman", "rmi", "--force", "--ignore", image});
    if (!node.empty() && fs::exists("/sys/fs/bpf/bpfence/" + node))
      (void)bpfence::lab::run_command({BPFENCE_AGENT_BIN, "--node", node, "--bpffs", "/sys/fs/bpf", "--uninstall"});
  }
};

json pod(const std::string& name, const std::string& app, const std::string& ip, const std::string& node) {
  json p = bpfence::test::pod_json("shop", name, ip, {{"app", app}});
  p["spec"]["nodeName"] = node;
  return p;
}

// web isolated for ingress; 80/TCP allowed from app=client only.
json web_policy() {
  json from = json::array({json{{"podSelector", {{"matchLabels", {{"app", "client"}}}}}}});
  json p;
  p["metadata"] = {{"name", "web-from-client"}, {"namespace", "shop"}};
  p["spec"] = {{"podSelector", {{"matchLabels", {{"app", "web"}}}}},
               {"policyTypes", json::array({"Ingress"})},
               {"ingress", json::array({json{{"from", from},
                                             {"ports", json::array({json{{"protocol", "TCP"}, {"port", 80}}})}}})}};
  return p;
}

// client -> web and other -> web on 80/TCP, probed together.
std::pair<bool, bool> web_reachable(Node& node) {
  std::vector<bpfence::lab::ProbeSpec> specs(2);
  specs[0].source = node.pod("client").handle.get();
  specs[1].source = node.pod("other").handle.get();
  for (auto& s : specs) {
    s.dst_ip = kWeb;
    s.port.proto = 6;
    s.port.port = 80;
  }
  bpfence::lab::ProbeOptions o;
  o.timeout_ms = 500;
  auto r = bpfence::lab::run_probes(specs, o);
  REQUIRE(r.size() == 2);
  for (const auto& x : r) REQUIRE(x.outcome != bpfence::lab::Outcome::Error);
  return {r[0].outcome == bpfence::lab::Outcome::Allowed, r[1].outcome == bpfence::lab::Outcome::Allowed};
}

// The kernel's bit for each capability the manifest may name.
uint64_t capability_mask(const std::vector<std::string>& caps) {
  static const std::map<std::string, int> bits = {{"CHOWN", 0},      {"DAC_OVERRIDE", 1}, {"NET_BIND_SERVICE", 10}, {"NET_BROADCAST", 11},
                                                  {"NET_ADMIN", 12}, {"NET_RAW", 13},      {"SYS_ADMIN", 21},
                                                  {"SYS_RESOURCE", 24}, {"PERFMON", 38},   {"BPF", 39}};
  uint64_t mask = 0;
  for (const auto& c : caps) {
    INFO("capability " << c);
    REQUIRE(bits.count(c));
    mask |= uint64_t{1} << bits.at(c);
  }
  return mask;
}

// A hexadecimal field of /proc/PID/status ("CapEff:\t0000...").
uint64_t status_field(const std::string& status, const std::string& name) {
  auto at = status.find(name + ":\t");
  REQUIRE(at != std::string::npos);
  return std::stoull(status.substr(at + name.size() + 2, 16), nullptr, 16);
}

// podman's default seccomp profile, with bpf() allowed to CAP_BPF and
// perf_event_open() to CAP_PERFMON where it reserves them to CAP_SYS_ADMIN.
std::string runtime_default_profile(const std::string& dir) {
  std::ifstream in("/usr/share/containers/seccomp.json");
  REQUIRE(in.good());
  json p = json::parse(in);
  const std::map<std::string, std::string> wanted = {{"bpf", "CAP_BPF"}, {"perf_event_open", "CAP_PERFMON"}};
  auto has_cap = [](const json& rule, const char* key, const std::string& cap) {
    if (!rule.contains(key) || !rule[key].contains("caps")) return false;
    for (const auto& c : rule[key]["caps"])
      if (c == cap) return true;
    return false;
  };
  for (const auto& [call, cap] : wanted) {
    bool allowed = false;
    for (const auto& r : p["syscalls"])
      if (r["action"] == "SCMP_ACT_ALLOW" && has_cap(r, "includes", cap))
        for (const auto& n : r["names"]) allowed = allowed || n == call;
    if (allowed) continue;  // this podman is current already
    // The "EPERM unless CAP_SYS_ADMIN" rule would contradict the new one.
    for (auto& r : p["syscalls"])
      if (r["action"] == "SCMP_ACT_ERRNO" && has_cap(r, "excludes", "CAP_SYS_ADMIN")) {
        json names = json::array();
        for (const auto& n : r["names"])
          if (n != call) names.push_back(n);
        r["names"] = names;
      }
    p["syscalls"].push_back({{"names", {call}}, {"action", "SCMP_ACT_ALLOW"}, {"includes", {{"caps", {cap}}}}});
  }
  std::string path = dir + "/seccomp-runtime-default.json";
  std::ofstream(path) << p.dump(1);
  return path;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST_CASE("the image runs as the DaemonSet runs it: enforces, ready, survives its stop, uninstalls",
          "[image]") {
  auto t0 = Clock::now();
  AgentContainer ds;
  BFE2E_REQUIRE_OK(bpfence::imagetest::read_agent_container(BPFENCE_SOURCE_DIR "/manifests/daemonset.yaml", ds));
  REQUIRE(ds.host_network);
  REQUIRE(ds.mounts.size() == 1);
  REQUIRE(ds.mounts[0].host_path == "/sys/fs/bpf");
  REQUIRE(ds.seccomp == "RuntimeDefault");

  Node node("img", BPFENCE_AGENT_BIN);
  PodmanGuard guard;
  const std::string pid = std::to_string(getpid());
  // The manifest's repository and tag, made unique: never the user's image.
  guard.image = ds.image + "-test" + pid;
  guard.container = "bfimg" + pid;
  guard.node = node.node_name();

  // 1. The image, from this build's binaries, without any registry.
  const std::string archive = guard.archive = "/tmp/bfimg-" + pid + ".oci.tar";
  {
    bool ok = false;
    std::string out = run({BPFENCE_SOURCE_DIR "/scripts/image.sh", "--tag", guard.image, "--out", archive, "--agent",
                           BPFENCE_AGENT_BIN, "--cli", BPFENCE_CLI_BIN},
                          &ok);
    INFO(out);
    REQUIRE(ok);
    std::printf("image: built %s in %.1f s: %s", guard.image.c_str(), seconds_since(t0), out.c_str());
    REQUIRE(fs::file_size(archive) > 0);
    fs::remove(archive);
  }
  // No compiler in it.
  {
    std::vector<std::string> argv = {"podman", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh"};
    for (const auto& h : bpfence::imagetest::podman_host_args()) argv.push_back(h);
    argv.insert(argv.end(), {guard.image, "-c", "command -v cc gcc g++ clang c++ clang-14 || echo no-compiler"});
    bool ok = false;
    std::string out = run(argv, &ok);
    INFO(out);
    REQUIRE(ok);
    CHECK(out == "no-compiler\n");
  }

  // 2. A node with three pods, and the API server it would talk to.
  BFE2E_REQUIRE_OK(node.setup());
  BFE2E_REQUIRE_OK(node.add_pod("web", kWeb, {"80/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("other", kOther, {}));
  auto cert = bpfence::test::make_test_cert();
  std::unique_ptr<FakeApiServer> api;
  BFE2E_REQUIRE_OK(bpfence::lab::run_in_netns(node.node_netns(), [&]() -> bpfence::Status {
    api = std::make_unique<FakeApiServer>(cert.cert.get(), cert.key.get());
    return bpfence::Status::ok();
  }));
  api->set_token(kToken);
  api->upsert(bpfence::test::kNamespaces, bpfence::test::namespace_json("shop"));
  api->upsert(bpfence::test::kPods, pod("web", "web", kWeb, node.node_name()));
  api->upsert(bpfence::test::kPods, pod("client", "client", kClient, node.node_name()));
  api->upsert(bpfence::test::kPods, pod("other", "other", kOther, node.node_name()));
  api->upsert(bpfence::test::kPolicies, web_policy());

  // What the kubelet mounts for the pod's service account.
  const std::string sa = fs::path(node.manifests_dir()).parent_path().string() + "/serviceaccount";
  fs::create_directories(sa);
  bpfence::test::write_file(sa + "/token", kToken);
  bpfence::test::write_file(sa + "/ca.crt", cert.cert_pem);
  bpfence::test::write_file(sa + "/namespace", "kube-system");

  RunContext ctx;
  ctx.name = guard.container;
  ctx.image = guard.image;
  ctx.netns = bpfence::lab::netns_path(node.node_netns());
  ctx.fields = {{"spec.nodeName", node.node_name()}, {"status.hostIP", node.node_ip()}};
  ctx.env = {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"}, {"KUBERNETES_SERVICE_PORT", std::to_string(api->port())}};
  ctx.extra_volumes = {sa + ":" + kServiceAccountDir + ":ro"};
  ctx.seccomp_profile = runtime_default_profile(fs::path(sa).parent_path().string());
  if (const char* caps = std::getenv("BFIMG_CAPS")) ctx.caps_override = split_commas(caps);
  auto argv = bpfence::imagetest::podman_run_argv(ds, ctx);
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + " ";
  INFO("podman: " << cmdline);

  // 3. Started as the DaemonSet: /readyz 200, the policy enforced.
  auto started = Clock::now();
  {
    bool ok = false;
    std::string out = run(argv, &ok);
    INFO(out);
    REQUIRE(ok);
  }
  // The agent logs to stderr, which podman logs replays on its own stderr.
  auto logs = [&] { return run({"sh", "-c", "podman logs " + guard.container + " 2>&1 | tail -40"}); };
  auto ready = node.wait_ready(0, 60000);
  INFO("container log:\n" << logs());
  REQUIRE(ready.has_value());
  std::printf("image: container ready %.1f s after podman run\n", seconds_since(started));
  CHECK((*ready)["endpoints"]["attached"] == 3);
  CHECK(node.get("/readyz").status == 200);
  CHECK(web_reachable(node) == std::make_pair(true, false));
  // The agent holds exactly the capabilities asked for, and cannot gain more.
  {
    std::string status = run({"podman", "exec", guard.container, "cat", "/proc/1/status"});
    INFO(status);
    uint64_t want = capability_mask(ctx.caps_override.empty() ? ds.caps_add : ctx.caps_override);
    CHECK(status_field(status, "CapEff") == want);
    CHECK(status_field(status, "CapBnd") == want);
    CHECK(status.find("NoNewPrivs:\t1") != std::string::npos);
  }
  const std::string pins = "/sys/fs/bpf/bpfence/" + node.node_name();
  CHECK(fs::exists(pins));

  // 4. The container stops: the kernel keeps enforcing.
  {
    bool ok = false;
    std::string out = run({"podman", "stop", "--time", "10", guard.container}, &ok);
    INFO(out);
    REQUIRE(ok);
    CHECK(run({"podman", "inspect", "--format", "{{.State.Status}}", guard.container}).find("exited") == 0);
  }
  CHECK(node.get("/readyz").status == 0);  // nothing listens any more
  CHECK(web_reachable(node) == std::make_pair(true, false));
  CHECK(fs::exists(pins));

  // 5. `--uninstall` from the image, with the same restrictions: filters and
  // pins gone, so the denied client gets through again.
  RunContext un = ctx;
  un.name = guard.uninstall_container = guard.container + "u";
  un.detach = false;
  un.args_override = {"--node=$(NODE_NAME)", "--bpffs=/sys/fs/bpf", "--uninstall"};
  {
    bool ok = false;
    std::string out = run(bpfence::imagetest::podman_run_argv(ds, un), &ok);
    INFO(out);
    REQUIRE(ok);
  }
  CHECK_FALSE(fs::exists(pins));
  CHECK(web_reachable(node) == std::make_pair(true, true));
  std::printf("image: test done in %.1f s\n", seconds_since(t0));
}
