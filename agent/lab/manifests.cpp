// Writing the lab's Namespaces, Pods, NetworkPolicies and ClusterNetworkPolicies
// as Kubernetes JSON.
#include "manifests.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace bpfence::lab {

using json = nlohmann::json;

namespace {

json metadata(const std::string& ns, const std::string& name, const Labels& labels) {
  json m = {{"name", name}};
  if (!ns.empty()) m["namespace"] = ns;
  if (!labels.empty()) m["labels"] = labels;
  return m;
}

json selector(const LabelSelector& s) {
  json out = json::object();
  if (!s.match_labels.empty()) out["matchLabels"] = s.match_labels;
  for (const auto& r : s.match_expressions) {
    static const char* ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
    json e = {{"key", r.key}, {"operator", ops[static_cast<int>(r.op)]}};
    if (!r.values.empty()) e["values"] = r.values;
    out["matchExpressions"].push_back(e);
  }
  return out;
}

json rules(const std::vector<PolicyRule>& list, const char* peers_key) {
  json out = json::array();
  for (const auto& rule : list) {
    json r = json::object();
    for (const auto& peer : rule.peers) {
      json p = json::object();
      if (peer.pod_selector) p["podSelector"] = selector(*peer.pod_selector);
      if (peer.namespace_selector) p["namespaceSelector"] = selector(*peer.namespace_selector);
      if (peer.ip_block) {
        p["ipBlock"] = {{"cidr", peer.ip_block->cidr.str()}};
        for (const auto& e : peer.ip_block->except) p["ipBlock"]["except"].push_back(e.str());
      }
      r[peers_key].push_back(p);
    }
    for (const auto& port : rule.ports) {
      json p = json::object();
      if (port.protocol) p["protocol"] = protocol_name(*port.protocol);
      if (port.port) p["port"] = *port.port;
      else if (!port.port_name.empty()) p["port"] = port.port_name;
      if (port.end_port) p["endPort"] = *port.end_port;
      r["ports"].push_back(p);
    }
    out.push_back(r);
  }
  return out;
}

json cnp_pods(const CnpPods& p) {
  return {{"namespaceSelector", selector(p.namespace_selector)}, {"podSelector", selector(p.pod_selector)}};
}

json cnp_rules(const std::vector<CnpRule>& list, const char* peers_key) {
  json out = json::array();
  for (const auto& rule : list) {
    json r = {{"action", cnp_action_name(rule.action)}, {peers_key, json::array()}};
    if (!rule.name.empty()) r["name"] = rule.name;
    for (const auto& peer : rule.peers) {
      json p = json::object();
      if (peer.namespaces) p["namespaces"] = selector(*peer.namespaces);
      else if (peer.pods) p["pods"] = cnp_pods(*peer.pods);
      else
        for (const auto& n : peer.networks) p["networks"].push_back(n.str());
      r[peers_key].push_back(p);
    }
    for (const auto& proto : rule.protocols) {
      if (!proto.named_port.empty()) {
        r["protocols"].push_back({{"destinationNamedPort", proto.named_port}});
        continue;
      }
      json port = proto.port == proto.end_port ? json{{"number", proto.port}}
                                               : json{{"range", {{"start", proto.port}, {"end", proto.end_port}}}};
      std::string name = protocol_name(proto.protocol);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      r["protocols"].push_back({{name, {{"destinationPort", port}}}});
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

json to_k8s(const Namespace& ns) {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", metadata("", ns.name, ns.labels)}};
}

json to_k8s(const Pod& pod) {
  json ports = json::array();
  for (const auto& p : pod.ports) {
    json cp = {{"containerPort", p.port}, {"protocol", protocol_name(p.protocol)}};
    if (!p.name.empty()) cp["name"] = p.name;
    ports.push_back(cp);
  }
  json ips = json::array();
  for (const auto& ip : pod.ips) ips.push_back({{"ip", ip.str()}});
  json out = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", metadata(pod.namespace_, pod.name, pod.labels)},
              {"spec",
               {{"nodeName", pod.node_name},
                {"containers", json::array({{{"name", "app"}, {"image", "lab"}, {"ports", ports}}})}}},
              {"status", {{"phase", "Running"}, {"podIPs", ips}}}};
  if (!pod.ips.empty()) out["status"]["podIP"] = pod.ips.front().str();
  if (pod.host_network) out["spec"]["hostNetwork"] = true;
  return out;
}

json to_k8s(const NetworkPolicy& np) {
  json spec = {{"podSelector", selector(np.pod_selector)}};
  if (!np.policy_types.empty()) spec["policyTypes"] = np.policy_types;
  if (!np.ingress.empty()) spec["ingress"] = rules(np.ingress, "from");
  // An `egress` key that is present but empty still matters for policyTypes
  // defaulting; keep it exactly as written.
  if (np.egress_present || !np.egress.empty()) spec["egress"] = rules(np.egress, "to");
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", metadata(np.namespace_, np.name, {})},
          {"spec", spec}};
}

json to_k8s(const ClusterNetworkPolicy& cnp) {
  json subject = cnp.subject.namespaces ? json{{"namespaces", selector(*cnp.subject.namespaces)}}
                                        : json{{"pods", cnp_pods(*cnp.subject.pods)}};
  json spec = {{"tier", cnp_tier_name(cnp.tier)}, {"priority", cnp.priority}, {"subject", subject}};
  if (!cnp.ingress.empty()) spec["ingress"] = cnp_rules(cnp.ingress, "from");
  if (!cnp.egress.empty()) spec["egress"] = cnp_rules(cnp.egress, "to");
  return {{"apiVersion", "policy.networking.k8s.io/v1alpha2"},
          {"kind", "ClusterNetworkPolicy"},
          {"metadata", metadata("", cnp.name, {})},
          {"spec", spec}};
}

std::string cluster_manifest(const std::vector<Namespace>& namespaces, const std::vector<Pod>& pods,
                             const std::vector<NetworkPolicy>& policies,
                             const std::vector<ClusterNetworkPolicy>& cluster_policies) {
  json items = json::array();
  for (const auto& ns : namespaces) items.push_back(to_k8s(ns));
  for (const auto& p : pods) items.push_back(to_k8s(p));
  for (const auto& np : policies) items.push_back(to_k8s(np));
  for (const auto& cnp : cluster_policies) items.push_back(to_k8s(cnp));
  return json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}.dump(2) + "\n";
}

Status write_file_atomic(const std::string& path, const std::string& text) {
  std::filesystem::path target(path);
  // A dot name with no .json/.yaml suffix: the agent's watcher ignores it.
  auto tmp = target.parent_path() / ("." + target.filename().string() + ".tmp");
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error("write " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return Status::error("write " + tmp.string() + ": " + std::strerror(err));
    }
    done += n;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Status::error("rename to " + path + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace bpfence::lab
