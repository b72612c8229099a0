// Loading conformance scenarios and answering what each probe should do.
#include "bpfence/scenario.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bpfence/parse.h"

namespace bpfence {

std::string ProbePort::str() const {
  if (proto == 1 || proto == 58) return "ICMP";
  const char* name = proto == 17 ? "UDP" : proto == 132 ? "SCTP" : "TCP";
  return std::to_string(port) + "/" + name;
}

std::optional<ProbePort> ProbePort::parse(const std::string& text) {
  if (text == "ICMP") return ProbePort{1, 0};
  auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto proto = parse_protocol(text.substr(slash + 1));
  if (!proto) return std::nullopt;
  try {
    int port = std::stoi(text.substr(0, slash));
    if (port < 1 || port > 65535) return std::nullopt;
    return ProbePort{static_cast<uint8_t>(*proto), static_cast<uint16_t>(port)};
  } catch (...) {
    return std::nullopt;
  }
}

static bool host_matches(const std::string& pattern, const std::string& host) {
  if (pattern == "*") return true;
  if (pattern.size() > 2 && pattern.ends_with("/*")) return host.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == host;
}

bool Scenario::expected(const ScenarioStep& step, const Probe& probe) const {
  bool allow = true;
  for (const auto& rule : step.expect)
    if (host_matches(rule.from, probe.from) && host_matches(rule.to, probe.to) &&
        (rule.port == "*" || rule.port == probe.port.str()))
      allow = rule.allow;
  return allow;
}

std::vector<Probe> Scenario::probes() const {
  std::vector<Probe> out;
  for (const auto& from : hosts)
    for (const auto& to : hosts) {
      if (from.name == to.name || (from.external && to.external)) continue;
      for (const auto& port : to.ports) out.push_back({from.name, to.name, port});
      out.push_back({from.name, to.name, ProbePort{1, 0}});
    }
  return out;
}

std::vector<Pod> Scenario::pods(const std::function<std::string(size_t)>& node_of) const {
  std::vector<Pod> out;
  size_t index = 0;
  for (const auto& h : hosts) {
    if (h.external) continue;
    Pod p;
    p.namespace_ = h.name.substr(0, h.name.find('/'));
    p.name = h.name.substr(h.name.find('/') + 1);
    p.labels = h.labels;
    p.node_name = node_of(index++);
    p.ips.push_back(*IpAddress::parse(h.ip));
    for (const auto& port : h.ports) {
      ContainerPort cp;
      cp.port = port.port;
      cp.protocol = static_cast<Protocol>(port.proto);
      if (auto it = h.port_names.find(port); it != h.port_names.end()) cp.name = it->second;
      p.ports.push_back(cp);
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string Scenario::ip_of(const std::string& host) const {
  for (const auto& h : hosts)
    if (h.name == host) return h.ip;
  return "";
}

namespace {

template <class T>
void upsert_by_key(std::vector<T>& list, const T& item) {
  auto it = std::find_if(list.begin(), list.end(), [&](const T& x) { return x.key() == item.key(); });
  if (it != list.end()) *it = item;
  else list.push_back(item);
}

}  // namespace

std::string Scenario::first_ipv6_host() const {
  for (const auto& h : hosts)
    if (auto ip = IpAddress::parse(h.ip); ip && !ip->is_v4()) return h.name;
  return "";
}

std::string ipv6_twin(const std::string& ipv4) { return "fd00::" + ipv4; }

Status move_to_ipv6(Scenario& sc) {
  if (!sc.ipv4_only.empty()) return Status::error("scenario " + sc.name + " is IPv4 only: " + sc.ipv4_only);
  if (!sc.first_ipv6_host().empty()) {
    for (const auto& h : sc.hosts)
      if (auto ip = IpAddress::parse(h.ip); !ip || ip->is_v4())
        return Status::error("scenario " + sc.name + ": host " + h.name + " has IPv4 address " + h.ip +
                             " beside IPv6 ones: a scenario is of one family");
    return Status::ok();
  }
  for (auto& h : sc.hosts) h.ip = ipv6_twin(h.ip);
  return Status::ok();
}

ScenarioObjects Scenario::objects_after(int steps) const {
  ScenarioObjects out;
  out.namespaces = namespaces;
  for (int i = 0; i < steps && i < static_cast<int>(this->steps.size()); ++i) {
    const auto& step = this->steps[i];
    for (const auto& ns : step.relabel) {
      auto it = std::find_if(out.namespaces.begin(), out.namespaces.end(),
                             [&](const Namespace& n) { return n.name == ns.name; });
      if (it != out.namespaces.end()) *it = ns;
      else out.namespaces.push_back(ns);
    }
    for (const auto& p : step.apply) upsert_by_key(out.policies, p);
    for (const auto& p : step.apply_cluster) upsert_by_key(out.cluster_policies, p);
    for (const auto& key : step.remove) std::erase_if(out.policies, [&](const NetworkPolicy& q) { return q.key() == key; });
    for (const auto& name : step.remove_cluster)
      std::erase_if(out.cluster_policies, [&](const ClusterNetworkPolicy& q) { return q.name == name; });
  }
  return out;
}

namespace {

Labels read_labels(const YAML::Node& node) {
  Labels out;
  if (node && node.IsMap())
    for (const auto& kv : node) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

Status read_policies(const std::string& ref, const std::vector<std::string>& dirs, ScenarioStep& step) {
  // "file.yaml" loads every policy; "file.yaml#2" only the second (of
  // either kind), so one file can hold the versions a scenario steps through.
  std::string file = ref;
  int only = 0;
  if (auto hash = ref.find('#'); hash != std::string::npos) {
    file = ref.substr(0, hash);
    only = std::stoi(ref.substr(hash + 1));
  }
  for (const auto& dir : dirs) {
    auto path = std::filesystem::path(dir) / file;
    if (!std::filesystem::exists(path)) continue;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse_manifests(text.str(), path.string());
    if (!parsed.errors.empty()) return Status::error(parsed.errors.front().str());
    int n = 0;
    for (auto& o : parsed.objects) {
      auto* np = std::get_if<NetworkPolicy>(&o);
      auto* cnp = std::get_if<ClusterNetworkPolicy>(&o);
      if (!np && !cnp) continue;
      if (only != 0 && ++n != only) continue;
      if (np) step.apply.push_back(*np);
      else step.apply_cluster.push_back(*cnp);
    }
    if (only != 0 && n < only) return Status::error(file + " has no policy #" + std::to_string(only));
    return Status::ok();
  }
  return Status::error("policy file " + file + " not found");
}

}  // namespace

Status load_scenario(const std::string& path, const std::vector<std::string>& policy_dirs, Scenario& out) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    out = {};
    out.name = std::filesystem::path(path).stem().string();
    out.description = root["description"].as<std::string>("");
    out.ipv4_only = root["ipv4_only"].as<std::string>("");
    // Policy files next to the scenario first (test/conformance/cluster/
    // keeps its own), then the given folders.
    std::vector<std::string> dirs = {std::filesystem::absolute(path).parent_path().string()};
    dirs.insert(dirs.end(), policy_dirs.begin(), policy_dirs.end());
    for (const auto& kv : root["namespaces"]) {
      std::string name = kv.first.as<std::string>();
      Labels labels = read_labels(kv.second);
      labels["kubernetes.io/metadata.name"] = name;
      out.namespaces.push_back({name, labels, ""});
    }
    auto read_host = [&](const std::string& name, const YAML::Node& spec, bool external) -> Status {
      ScenarioHost h;
      h.name = name;
      h.external = external;
      h.labels = read_labels(spec["labels"]);
      h.ip = spec["ip"].as<std::string>("");
      for (const auto& p : spec["ports"]) {
        std::string text = p.as<std::string>(), port_name;
        if (auto colon = text.find(':'); colon != std::string::npos) {
          port_name = text.substr(0, colon);
          text = text.substr(colon + 1);
        }
        auto port = ProbePort::parse(text);
        if (!port || *port == ProbePort{1, 0})
          return Status::error(path + ": host " + name + ": ports: bad port " + p.as<std::string>());
        h.ports.push_back(*port);
        if (!port_name.empty()) h.port_names[*port] = port_name;
      }
      out.hosts.push_back(h);
      return Status::ok();
    };
    for (const auto& kv : root["pods"])
      if (auto s = read_host(kv.first.as<std::string>(), kv.second, false); !s) return s;
    for (const auto& kv : root["externals"])
      if (auto s = read_host(kv.first.as<std::string>(), kv.second, true); !s) return s;
    int pod_n = 0, ext_n = 0;
    for (auto& h : out.hosts)
      if (!(h.ip_fixed = !h.ip.empty())) h.ip = h.external ? "198.18.0." + std::to_string(10 + ext_n++) : "10.244.0." + std::to_string(10 + pod_n++);

    for (const auto& s : root["steps"]) {
      ScenarioStep step;
      step.name = s["name"].as<std::string>("");
      for (const auto& ref : s["apply"])
        if (auto st = read_policies(ref.as<std::string>(), dirs, step); !st)
          return Status::error(path + ": step " + step.name + ": " + st.message());
      for (const auto& r : s["remove"]) step.remove.push_back(r.as<std::string>());
      for (const auto& r : s["remove_cluster"]) step.remove_cluster.push_back(r.as<std::string>());
      for (const auto& kv : s["relabel"]) {
        std::string name = kv.first.as<std::string>();
        Labels labels = read_labels(kv.second);
        labels["kubernetes.io/metadata.name"] = name;
        step.relabel.push_back({name, labels, ""});
      }
      for (const auto& e : s["expect"]) {
        std::istringstream words(e.as<std::string>());
        ExpectRule rule;
        std::string arrow, verdict;
        words >> rule.from >> arrow >> rule.to >> rule.port >> verdict;
        if (arrow != "->" || (verdict != "allow" && verdict != "deny") ||
            (rule.port != "*" && !ProbePort::parse(rule.port)))
          return Status::error(path + ": step " + step.name + ": expect: cannot read '" + e.as<std::string>() +
                               "' (want 'FROM -> TO PORT allow|deny')");
        rule.allow = verdict == "allow";
        step.expect.push_back(rule);
      }
      out.steps.push_back(std::move(step));
    }
    if (out.steps.empty()) return Status::error(path + ": steps: a scenario needs at least one step");
  } catch (const YAML::Exception& e) {
    return Status::error(path + ": " + e.what());
  }
  return Status::ok();
}

}  // namespace bpfence
