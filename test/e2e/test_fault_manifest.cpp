// A manifest file half-written in place (issue 8), with real traffic: while
// the file does not parse, the agent keeps enforcing the last good version
// of its objects and says so (/v1/status errors, the log); the completed
// file is applied. An atomic replace (write, then rename) is one change and
// never exposes a partial file.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include "test_agent_support.h"

namespace {

using bpfence::e2e::Clock;
using bpfence::e2e::json;
using bpfence::e2e::Node;
using bpfence::e2e::Stream;
using namespace bpfence::e2e::manifests;

const char* kWeb = "10.200.3.10";
const char* kClient = "10.200.3.11";
const char* kOther = "10.200.3.12";

std::string web_policy(bool open_up) {
  std::vector<std::string> from = {pods_peer("client")};
  if (open_up) from.push_back(namespaces_peer("kubernetes.io/metadata.name", "beta"));
  return allow_ingress_yaml("alpha", "web", "web", from, {{"TCP", 80}});
}

// A plain write in place: truncate, write, close (one close-write event).
void write_in_place(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

bool has_error_for(const json& status, const std::string& file) {
  for (const auto& e : status["errors"])
    if (e["file"] == file) return true;
  return false;
}

}  // namespace

TEST_CASE("fault: a half-written manifest keeps the last good version enforced; the completed one applies",
          "[e2e][fault]") {
  auto t0 = Clock::now();
  Node node("fman", BPFENCE_AGENT_BIN);
  BFE2E_REQUIRE_OK(node.setup());
  const std::string n = node.node_name();
  BFE2E_REQUIRE_OK(node.add_pod("alpha/web", kWeb, {"80/TCP", "8080/TCP"}));
  BFE2E_REQUIRE_OK(node.add_pod("alpha/client", kClient, {}));
  BFE2E_REQUIRE_OK(node.add_pod("beta/other", kOther, {}));
  node.write_manifest("pods.yaml", yaml_documents({pod_yaml("alpha", "web", "web", kWeb, n),
                                                   pod_yaml("alpha", "client", "client", kClient, n),
                                                   pod_yaml("beta", "other", "other", kOther, n)}));
  node.write_manifest("policy.yaml", web_policy(false));
  BFE2E_REQUIRE_OK(node.start_agent());
  auto st = node.wait_ready(0);
  INFO("agent log:\n" << node.agent_log_tail());
  REQUIRE(st);
  CHECK((*st)["errors"].empty());
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  Stream stream(*node.pod("alpha/client").handle, kWeb, 80);
  REQUIRE(stream.connected());
  REQUIRE(stream.flows());

  // The writer stops half-way (and closes): the file ends inside a flow
  // mapping, which does not parse.
  const std::string path = node.manifests_dir() + "/policy.yaml";
  const std::string full = web_policy(true);
  const std::string half = full.substr(0, full.find("port: 80"));
  int64_t g = (*st)["generation"].get<int64_t>();
  write_in_place(path, half);
  std::optional<json> broken = node.wait_status([](const json& s) { return has_error_for(s, "policy.yaml"); }, 5000);
  if (!broken) broken = node.status();
  REQUIRE(broken);
  INFO("status: " << broken->dump());
  CHECK(has_error_for(*broken, "policy.yaml"));
  // The last good version stays: the policy is still there and enforced.
  CHECK((*broken)["objects"]["networkpolicies"] == 1);
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));
  CHECK(stream.flows());
  std::string log = node.agent_log_tail(20000);
  CHECK(log.find("manifest rejected") != std::string::npos);
  CHECK(log.find("keeping last good version") != std::string::npos);
  std::printf("fault manifest: while broken, /v1/status errors[0]: %s\n",
              (*broken)["errors"].empty() ? "-" : (*broken)["errors"][0]["text"].dump().c_str());

  // The writer finishes: the completed file is applied, the error clears.
  g = (*broken)["generation"].get<int64_t>();
  write_in_place(path, full);
  st = node.wait_ready(g);
  REQUIRE(st);
  CHECK_FALSE(has_error_for(*st, "policy.yaml"));
  CHECK(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK_FALSE(node.probe("alpha/client", kWeb, "tcp", 8080));

  // An atomic replace is one change: exactly one generation, no error seen.
  g = (*st)["generation"].get<int64_t>();
  node.write_manifest("policy.yaml", web_policy(false));
  st = node.wait_ready(g);
  REQUIRE(st);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing else follows
  st = node.status();
  REQUIRE(st);
  CHECK((*st)["generation"].get<int64_t>() == g + 1);
  CHECK((*st)["errors"].empty());
  CHECK_FALSE(node.probe("beta/other", kWeb, "tcp", 80));
  CHECK(node.probe("alpha/client", kWeb, "tcp", 80));
  CHECK(stream.flows());
  CHECK_FALSE(stream.failed());
  std::printf("fault manifest: done in %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
}
