// Turns the agent container of manifests/daemonset.yaml into a `podman run`
// command line, as a kubelet would run it: host network (here the network
// namespace of a lab node), the capabilities it adds and nothing else, a
// read-only root filesystem, no privilege escalation, the hostPath volumes
// bind-mounted, the env fields resolved and $(VAR) expanded in the
// arguments. The image test runs what this returns, so the image is tested
// with the manifest's settings and not with a copy of them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence::imagetest {

struct AgentContainer {
  std::string image;
  std::vector<std::string> command, args;
  std::vector<std::string> caps_add, caps_drop;
  bool host_network = false;
  bool read_only_root = false;
  bool no_new_privileges = false;
  bool privileged = false;
  int run_as_user = -1;
  std::string seccomp;  // seccompProfile.type: RuntimeDefault, Unconfined, ...
  struct Mount {
    std::string host_path, container_path;
    bool host_to_container = false;  // mountPropagation: HostToContainer
  };
  std::vector<Mount> mounts;
  // env name -> fieldRef.fieldPath (spec.nodeName, status.hostIP, ...)
  std::map<std::string, std::string> field_env;
};

// Reads the first container of the DaemonSet in `path`.
Status read_agent_container(const std::string& path, AgentContainer& out);

// What the node provides that the manifest only names.
struct RunContext {
  std::string name;                         // container name
  std::string image;                        // image to run (a test tag of c.image)
  std::string netns;                        // the node: /run/netns/<name>
  std::map<std::string, std::string> fields;  // fieldPath -> value
  std::map<std::string, std::string> env;     // what the kubelet adds (KUBERNETES_SERVICE_*)
  std::vector<std::string> extra_volumes;     // "host:container[:opts]" (service account)
  std::vector<std::string> caps_override;     // non-empty: these instead of caps_add
  std::string seccomp_profile;                // the file RuntimeDefault stands for ("": podman's own)
  bool detach = true;
  std::vector<std::string> args_override;     // non-empty: these instead of args
};

// `--runtime runc --ulimit ...`: what any `podman run` needs on this kind
// of host (runc; limits within the host's, see the .cpp).
std::vector<std::string> podman_host_args();

// argv of `podman run ...` for `c` in `ctx`.
std::vector<std::string> podman_run_argv(const AgentContainer& c, const RunContext& ctx);

}  // namespace bpfence::imagetest
