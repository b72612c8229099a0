// Manifest text for the agent's tests: the NetworkPolicy, Pod and Namespace
// shapes they write over and over, each written once here, with the names,
// selectors and ports as arguments. Only plain strings (no library), so the
// unit tests of the manifest source can use it too.
//
// Tests that are about the YAML itself (broken text, JSON, odd fields) keep
// their own literals.
//
// An inline namespace: bpfence::e2e::pod_yaml works, and a test takes all
// the generators at once with `using namespace bpfence::e2e::manifests;`.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace bpfence::e2e {
inline namespace manifests {

// A policy's port: {"TCP", 80}.
struct PortSpec {
  std::string protocol;
  int port;
};

// Peers of an ingress rule's `from` list.
inline std::string pods_peer(const std::string& app) { return "podSelector: {matchLabels: {app: " + app + "}}"; }
inline std::string namespaces_peer(const std::string& key, const std::string& value) {
  return "namespaceSelector: {matchLabels: {" + key + ": " + value + "}}";
}

// Documents joined into one multi-document file.
inline std::string yaml_documents(const std::vector<std::string>& docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) out += (i ? "---\n" : "") + docs[i];
  return out;
}

namespace manifests_detail {
inline std::string policy_head(const std::string& ns, const std::string& name, const std::string& app) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n  podSelector: " + (app.empty() ? std::string("{}") : "{matchLabels: {app: " + app + "}}") + "\n";
}
}  // namespace manifests_detail

// A policy selecting the pods app=`app` of `ns` that admits one ingress
// rule: from any of `from` (pods_peer, namespaces_peer) on any of `ports`.
// policy_types, when given, is written as `policyTypes: [<policy_types>]`
// (e.g. "Ingress, Egress").
inline std::string allow_ingress_yaml(const std::string& ns, const std::string& name, const std::string& app,
                                      const std::vector<std::string>& from, const std::vector<PortSpec>& ports,
                                      const std::string& policy_types = "") {
  std::string y = manifests_detail::policy_head(ns, name, app);
  if (!policy_types.empty()) y += "  policyTypes: [" + policy_types + "]\n";
  y += "  ingress:\n  - from:\n";
  for (const std::string& peer : from) y += "    - " + peer + "\n";
  y += "    ports:\n";
  for (const PortSpec& p : ports) y += "    - {protocol: " + p.protocol + ", port: " + std::to_string(p.port) + "}\n";
  return y;
}

// A policy with no rules: the pods app=`app` of `ns` (every pod of `ns`
// when app is empty) are isolated in the directions of policy_types
// ("Ingress", "Egress" or "Ingress, Egress") and admit nothing there.
inline std::string deny_all_yaml(const std::string& ns, const std::string& name, const std::string& app,
                                 const std::string& policy_types) {
  return manifests_detail::policy_head(ns, name, app) + "  policyTypes: [" + policy_types + "]\n";
}

// A pod with one label (app) and one IP, on `node`.
inline std::string pod_yaml(const std::string& ns, const std::string& name, const std::string& app,
                            const std::string& ip, const std::string& node) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: {app: " + app +
         "}}\nspec: {nodeName: " + node + "}\nstatus: {podIP: " + ip + "}\n";
}

// A namespace, with labels {key: value, ...} when any are given.
inline std::string namespace_yaml(const std::string& name,
                                  const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  std::string meta = "{name: " + name;
  if (!labels.empty()) {
    meta += ", labels: {";
    for (size_t i = 0; i < labels.size(); ++i) meta += (i ? ", " : "") + labels[i].first + ": " + labels[i].second;
    meta += "}";
  }
  return "apiVersion: v1\nkind: Namespace\nmetadata: " + meta + "}\n";
}

}  // namespace manifests
}  // namespace bpfence::e2e
