// bpfence-agent's command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpfence/result.h"

namespace bpfence {

struct AgentOptions {
  std::string node;
  std::string manifests;    // --manifests DIR
  std::string kubeconfig;   // --kubeconfig FILE
  bool in_cluster = false;  // no source flag and KUBERNETES_SERVICE_HOST set
  std::string dataplane = "bpf";
  std::string bpffs = "/sys/fs/bpf";
  std::string listen = "127.0.0.1:9617";
  bool listen_given = false;
  std::string log_level = "info";
  std::vector<std::string> host_ips;  // --host-ip, repeatable; empty: the node's own
  bool uninstall = false;
  bool trace_new_flows = false;  // --trace-new-flows: a ring-buffer event per new flow (flow --follow --all)
  bool help = false;
  int sweep_interval_seconds = 10;  // flow ageing
  int crd_recheck_seconds = 30;     // an API kind whose CRD is not installed: look again
  // BPF map sizes (0: the build's default, datapath_abi.h). Smaller ones let
  // tests fill the tables quickly (issue 8: flow table full, policy map full).
  uint32_t max_flows = 0;   // --max-flows
  uint32_t max_policy = 0;  // --max-policy-entries
};

// Parses argv (without argv[0]). `kubernetes_service_host` is the value of
// that variable ("" when unset): it selects in-cluster config when no
// source flag is given.
Status parse_agent_options(const std::vector<std::string>& args, const std::string& kubernetes_service_host,
                           AgentOptions* out);

const char* agent_usage();

}  // namespace bpfence
