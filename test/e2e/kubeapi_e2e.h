// What the agent's e2e tests on the Kubernetes API source share: pods as
// the API server returns them and a kubeconfig for the fake server (the CLI
// run in the node namespace is run_cli in test_agent_support.h).
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

}  // namespace bpfence::e2e
