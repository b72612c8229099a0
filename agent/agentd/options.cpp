// Parsing bpfence-agent's flags: --flag VALUE and --flag=VALUE.
#include "options.h"

#include <charconv>

namespace bpfence {

const char* agent_usage() {
  return R"(usage: bpfence-agent --node NAME [SOURCE] [options]
       bpfence-agent --node NAME --uninstall [--bpffs DIR] [--dataplane KIND]

Enforces Kubernetes NetworkPolicy for the pods of one node with eBPF.

Source (one of):
  --manifests DIR       every *.yaml, *.yml and *.json below DIR (Namespaces,
                        Pods, NetworkPolicies), watched with inotify: edits,
                        new files, renames and deletes apply at once
  --kubeconfig FILE     list and watch the Kubernetes API with this kubeconfig
  (none)                in-cluster config when KUBERNETES_SERVICE_HOST is set
                        (service account token, CA, KUBERNETES_SERVICE_PORT)

Options:
  --node NAME           this node's name: pods with spec.nodeName == NAME are
                        enforced here (required)
  --dataplane KIND      bpf (default), or iptables: the same state as ipsets
                        and iptables chains (for comparison; flows from
                        conntrack, see agent/dataplane/iptables/README.md)
  --bpffs DIR           bpf filesystem; maps are pinned in DIR/bpfence/NAME
                        (default /sys/fs/bpf)
  --listen ADDR:PORT    HTTP API (read-only; default 127.0.0.1:9617). A
                        non-loopback address exposes /metrics and /v1/* to
                        the network: give it only if that is what you want
  --host-ip IP          an address of this node, always allowed to and from
                        pods (kubelet probes); repeatable. Default: every
                        address of the node's interfaces
  --log-level LEVEL     debug, info (default), warn, error
  --sweep-interval S    seconds between flow-table ageing passes (default 10)
  --max-flows N         flow table entries (default 262144). A pinned table
                        keeps its size until --uninstall
  --max-policy-entries N  policy map entries (default 262144; tests)
  --trace-new-flows     load the programs with a ring-buffer event for every
                        new flow, not only for drops (`bpfence flow --follow
                        --all`); costs one event per new connection
  --uninstall           detach the programs from every interface and remove
                        the pinned maps, then exit
  --help                this text

Stopping the agent (SIGTERM, SIGINT, or a crash) leaves the programs attached
and the maps pinned: the node keeps enforcing the last applied state, and a
restarted agent adopts it without dropping established connections.

HTTP API: /healthz /readyz /metrics /v1/status /v1/endpoints /v1/pods
/v1/flows?match=... /v1/rules /v1/policies /v1/verdict?from=IP&to=IP&proto=tcp&port=80
)";
}

Status parse_agent_options(const std::vector<std::string>& args, const std::string& kubernetes_service_host,
                           AgentOptions* out) {
  AgentOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    auto take = [&](std::string* dst) -> Status {
      if (!has_value) {
        if (i + 1 >= args.size()) return Status::error(flag + ": missing value");
        value = args[++i];
      }
      *dst = value;
      return Status::ok();
    };
    auto no_value = [&]() -> Status {
      if (has_value) return Status::error(flag + ": takes no value");
      return Status::ok();
    };
    Status s;
    if (flag == "--help" || flag == "-h") {
      s = no_value();
      o.help = true;
    } else if (flag == "--node") {
      s = take(&o.node);
    } else if (flag == "--manifests") {
      s = take(&o.manifests);
    } else if (flag == "--kubeconfig") {
      s = take(&o.kubeconfig);
    } else if (flag == "--dataplane") {
      s = take(&o.dataplane);
    } else if (flag == "--bpffs") {
      s = take(&o.bpffs);
    } else if (flag == "--listen") {
      s = take(&o.listen);
      o.listen_given = true;
    } else if (flag == "--log-level") {
      s = take(&o.log_level);
    } else if (flag == "--host-ip") {
      std::string ip;
      s = take(&ip);
      o.host_ips.push_back(ip);
    } else if (flag == "--sweep-interval") {
      std::string v;
      s = take(&v);
      if (s) {
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), o.sweep_interval_seconds);
        if (ec != std::errc() || p != v.data() + v.size() || o.sweep_interval_seconds < 1)
          s = Status::error("--sweep-interval: \"" + v + "\" is not a positive number of seconds");
      }
    } else if (flag == "--max-flows" || flag == "--max-policy-entries") {
      std::string v;
      s = take(&v);
      uint32_t* dst = flag == "--max-flows" ? &o.max_flows : &o.max_policy;
      if (s) {
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *dst);
        if (ec != std::errc() || p != v.data() + v.size() || *dst < 16)
          s = Status::error(flag + ": \"" + v + "\" is not a number of entries (at least 16)");
      }
    } else if (flag == "--trace-new-flows") {
      s = no_value();
      o.trace_new_flows = true;
    } else if (flag == "--uninstall") {
      s = no_value();
      o.uninstall = true;
    } else {
      s = Status::error("unknown argument \"" + args[i] + "\" (see --help)");
    }
    if (!s) return s;
  }
  if (o.help) {
    *out = o;
    return Status::ok();
  }
  if (o.node.empty()) return Status::error("--node is required (this node's name, as in spec.nodeName)");
  if (!o.manifests.empty() && !o.kubeconfig.empty())
    return Status::error("--manifests and --kubeconfig are exclusive: give one source");
  if (!o.uninstall && o.manifests.empty() && o.kubeconfig.empty()) {
    if (kubernetes_service_host.empty())
      return Status::error("no source: give --manifests DIR or --kubeconfig FILE (or run in a pod, where "
                           "KUBERNETES_SERVICE_HOST selects in-cluster config)");
    o.in_cluster = true;
  }
  *out = o;
  return Status::ok();
}

}  // namespace bpfence
