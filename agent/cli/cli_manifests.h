// Offline mode: the Namespaces, Pods, NetworkPolicies and
// ClusterNetworkPolicies of a manifests
// folder (the files `bpfence-agent --manifests DIR` reads), compiled by the
// CLI itself. `explain` and `policy` answer from it without an agent, and
// `flow` and `endpoints` take pod names from it.
#pragma once

#include <string>
#include <vector>

#include "bpfence/compiler.h"
#include "bpfence/result.h"

namespace bpfence::cli {

struct Manifests {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;
  std::vector<ClusterNetworkPolicy> cluster_policies;
  // Rejected objects and unreadable files, as "file: object: field: message".
  std::vector<std::string> errors;
};

// Reads every *.yaml, *.yml and *.json below `dir` (hidden files and folders
// skipped, as the agent does), in path order. A file that does not parse is
// reported in `errors`; only an unreadable folder is an error.
Status load_manifests(const std::string& dir, Manifests* out);

// Upserts everything into `compiler` and commits. Namespaces get their
// kubernetes.io/metadata.name label, and namespaces that are only named by
// pods or policies are created with it, as the agent does in manifest mode.
void compile_manifests(const Manifests& m, Compiler& compiler);

}  // namespace bpfence::cli
