// What the agent's e2e tests on the Kubernetes API source share: pods as
// the API server returns them, a kubeconfig for the fake server, and the
// CLI run in the node namespace.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kube_test_util.h"
#include "test_agent_support.h"

namespace bpfence::e2e {

inline json kube_pod(const std::string& name, const std::string& app, const std::string& ip, const std::string& node) {
  json p = bpfence::test::pod_json("shop", name, ip, {{"app", app}});
  p["spec"]["nodeName"] = node;
  return p;
}

// A kubeconfig for `server` next to the node's manifests folder; `user` is
// the YAML of the user entry ("token: X" or "tokenFile: /path").
inline std::string write_kubeconfig(const Node& node, const std::string& server, const std::string& user) {
  const std::string path = std::filesystem::path(node.manifests_dir()).parent_path().string() + "/kubeconfig";
  std::ofstream out(path);
  out << "apiVersion: v1\nkind: Config\ncurrent-context: e2e\nclusters:\n- name: fake\n  cluster:\n    server: "
      << server << "\ncontexts:\n- name: e2e\n  context: {cluster: fake, user: agent}\nusers:\n- name: agent\n"
      << "  user:\n    " << user << "\n";
  return path;
}

// The CLI in the node namespace (setns only: `ip netns exec` would remount
// /sys and hide the bpffs); its stdout and stderr.
inline std::string run_cli(const Node& node, const std::vector<std::string>& args, const std::string& log) {
  lab::SpawnOptions so;
  so.argv = {BPFENCE_CLI_BIN};
  so.argv.insert(so.argv.end(), args.begin(), args.end());
  so.netns = lab::netns_path(node.node_netns());
  so.log_path = log;
  so.die_with_parent = true;
  lab::ProcessId p;
  REQUIRE(lab::spawn(so, p).is_ok());
  wait_until([&] { return !p.alive(); }, 10000, 10);
  if (p.alive()) lab::stop_process(p, 500);
  std::ifstream in(log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace bpfence::e2e
