// The lab's cluster as the agents read it: Kubernetes objects written as
// JSON into the lab's manifests folder. The whole cluster lives in one file
// replaced atomically (write, then rename), so each lab step is exactly one
// change for the agents' manifest watchers.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/model.h"
#include "bpfence/result.h"

namespace bpfence::lab {

nlohmann::json to_k8s(const Namespace& ns);
nlohmann::json to_k8s(const Pod& pod);
nlohmann::json to_k8s(const NetworkPolicy& policy);
nlohmann::json to_k8s(const ClusterNetworkPolicy& policy);

// A `kind: List` holding every object, in this order.
std::string cluster_manifest(const std::vector<Namespace>& namespaces, const std::vector<Pod>& pods,
                             const std::vector<NetworkPolicy>& policies,
                             const std::vector<ClusterNetworkPolicy>& cluster_policies = {});

// Writes `text` to a hidden temporary name in the same folder, then renames
// it over `path`: readers see the old file or the new one, never half.
Status write_file_atomic(const std::string& path, const std::string& text);

}  // namespace bpfence::lab
