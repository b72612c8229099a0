#include "daemonset_podman.h"

#include <sys/resource.h>

#include <algorithm>

#include <yaml-cpp/yaml.h>

namespace bpfence::imagetest {
namespace {

std::vector<std::string> strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsSequence())
    for (const auto& x : n) out.push_back(x.as<std::string>());
  return out;
}

// $(VAR) in a container argument, as the kubelet expands it.
std::string expand(std::string s, const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) {
    std::string ref = "$(" + k + ")";
    for (size_t at; (at = s.find(ref)) != std::string::npos;) s.replace(at, ref.size(), v);
  }
  return s;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

// podman's default limits exceed what runc may set on this kind of host
// (its own hard limits can be lower than the caller's: nproc 32768 where
// the shell has 96367): ask for the caller's hard limit, at most `cap`,
// which is ample for the agent.
std::string ulimit(int resource, const char* name, rlim_t cap) {
  rlimit r{};
  getrlimit(resource, &r);
  std::string n = std::to_string(std::min(r.rlim_max, cap));
  return std::string(name) + "=" + n + ":" + n;
}

}  // namespace

Status read_agent_container(const std::string& path, AgentContainer& out) {
  try {
    YAML::Node ds = YAML::LoadFile(path);
    YAML::Node pod = ds["spec"]["template"]["spec"];
    YAML::Node c = pod["containers"][0];
    if (!c) return Status::error(path + ": spec.template.spec.containers[0] missing");
    out.image = c["image"].as<std::string>();
    out.command = strings(c["command"]);
    out.args = strings(c["args"]);
    out.host_network = pod["hostNetwork"] && pod["hostNetwork"].as<bool>();
    YAML::Node sc = c["securityContext"];
    if (sc) {
      out.caps_add = strings(sc["capabilities"]["add"]);
      out.caps_drop = strings(sc["capabilities"]["drop"]);
      out.read_only_root = sc["readOnlyRootFilesystem"] && sc["readOnlyRootFilesystem"].as<bool>();
      out.no_new_privileges = sc["allowPrivilegeEscalation"] && !sc["allowPrivilegeEscalation"].as<bool>();
      out.privileged = sc["privileged"] && sc["privileged"].as<bool>();
      if (sc["runAsUser"]) out.run_as_user = sc["runAsUser"].as<int>();
      if (sc["seccompProfile"]["type"]) out.seccomp = sc["seccompProfile"]["type"].as<std::string>();
    }
    std::map<std::string, std::string> host_paths;
    for (const auto& v : pod["volumes"])
      if (v["hostPath"]) host_paths[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
    for (const auto& m : c["volumeMounts"]) {
      auto it = host_paths.find(m["name"].as<std::string>());
      if (it == host_paths.end())
        return Status::error(path + ": volumeMount " + m["name"].as<std::string>() + " is not a hostPath volume");
      out.mounts.push_back({it->second, m["mountPath"].as<std::string>(),
                            m["mountPropagation"] && m["mountPropagation"].as<std::string>() == "HostToContainer"});
    }
    for (const auto& e : c["env"])
      if (e["valueFrom"]["fieldRef"])
        out.field_env[e["name"].as<std::string>()] = e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>();
  } catch (const std::exception& e) {
    return Status::error(path + ": " + e.what());
  }
  return Status::ok();
}

std::vector<std::string> podman_host_args() {
  return {"--runtime", "runc", "--ulimit", ulimit(RLIMIT_NOFILE, "nofile", 16384), "--ulimit",
          ulimit(RLIMIT_NPROC, "nproc", 4096)};
}

std::vector<std::string> podman_run_argv(const AgentContainer& c, const RunContext& ctx) {
  std::vector<std::string> a = {"podman", "run"};
  if (ctx.detach) a.push_back("--detach");
  else a.push_back("--rm");
  a.insert(a.end(), {"--name", ctx.name});
  for (const auto& h : podman_host_args()) a.push_back(h);
  // hostNetwork: the node's network namespace.
  if (c.host_network) a.insert(a.end(), {"--network", "ns:" + ctx.netns});
  if (c.privileged) a.push_back("--privileged");
  for (const auto& d : c.caps_drop) a.insert(a.end(), {"--cap-drop", d});
  const auto& add = ctx.caps_override.empty() ? c.caps_add : ctx.caps_override;
  if (!add.empty()) a.insert(a.end(), {"--cap-add", joined(add)});
  if (c.read_only_root) a.push_back("--read-only");
  if (c.no_new_privileges) a.insert(a.end(), {"--security-opt", "no-new-privileges"});
  if (c.seccomp == "Unconfined") a.insert(a.end(), {"--security-opt", "seccomp=unconfined"});
  if (c.seccomp == "RuntimeDefault" && !ctx.seccomp_profile.empty())
    a.insert(a.end(), {"--security-opt", "seccomp=" + ctx.seccomp_profile});
  if (c.run_as_user >= 0) a.insert(a.end(), {"--user", std::to_string(c.run_as_user)});
  for (const auto& m : c.mounts)
    a.insert(a.end(), {"--volume", m.host_path + ":" + m.container_path + (m.host_to_container ? ":rslave" : "")});
  for (const auto& v : ctx.extra_volumes) a.insert(a.end(), {"--volume", v});
  std::map<std::string, std::string> env = ctx.env;
  for (const auto& [name, field] : c.field_env) {
    auto it = ctx.fields.find(field);
    if (it != ctx.fields.end()) env[name] = it->second;
  }
  for (const auto& [k, v] : env) a.insert(a.end(), {"--env", k + "=" + v});
  // command replaces the image's entrypoint; the rest of it goes first in args.
  std::vector<std::string> args;
  if (!c.command.empty()) {
    a.insert(a.end(), {"--entrypoint", c.command[0]});
    args.assign(c.command.begin() + 1, c.command.end());
  }
  a.push_back(ctx.image);
  const auto& given = ctx.args_override.empty() ? c.args : ctx.args_override;
  for (const auto& x : given) args.push_back(expand(x, env));
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

}  // namespace bpfence::imagetest
