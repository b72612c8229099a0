// Reading a manifests folder and compiling it locally (offline mode).
#include "cli_manifests.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "bpfence/parse.h"

namespace bpfence::cli {
namespace fs = std::filesystem;

Status load_manifests(const std::string& dir, Manifests* out) {
  *out = {};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::error("manifests " + dir + ": not a folder");
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::error("manifests " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::error("manifests " + dir + ": " + ec.message());
    std::string name = it->path().filename().string();
    if (name.starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) {
      out->errors.push_back(f.string() + ": cannot read");
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    ParseResult r = parse_manifests(text.str(), f.string());
    for (const auto& e : r.errors) out->errors.push_back(e.str());
    for (auto& o : r.objects) {
      if (auto* ns = std::get_if<Namespace>(&o)) out->namespaces.push_back(std::move(*ns));
      if (auto* pod = std::get_if<Pod>(&o)) out->pods.push_back(std::move(*pod));
      if (auto* p = std::get_if<NetworkPolicy>(&o)) out->policies.push_back(std::move(*p));
      if (auto* c = std::get_if<ClusterNetworkPolicy>(&o)) out->cluster_policies.push_back(std::move(*c));
    }
  }
  return Status::ok();
}

void compile_manifests(const Manifests& m, Compiler& compiler) {
  std::set<std::string> declared, named;
  for (Namespace ns : m.namespaces) {
    ns.labels["kubernetes.io/metadata.name"] = ns.name;
    declared.insert(ns.name);
    compiler.upsert(ns);
  }
  for (const auto& pod : m.pods) named.insert(pod.namespace_);
  for (const auto& p : m.policies) named.insert(p.namespace_);
  for (const auto& name : named)
    if (!declared.count(name)) compiler.upsert(Namespace{name, {{"kubernetes.io/metadata.name", name}}, ""});
  for (const auto& pod : m.pods) compiler.upsert(pod);
  for (const auto& p : m.policies) compiler.upsert(p);
  for (const auto& p : m.cluster_policies) compiler.upsert(p);
  compiler.commit();
}

}  // namespace bpfence::cli
