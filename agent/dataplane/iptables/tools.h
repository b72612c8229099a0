// The netfilter tools of one iptables variant, run in the node's network
// namespace: what the dataplane, uninstall and the readers share.
#pragma once

#include <string>
#include <vector>

#include "bpfence/result.h"
#include "command.h"
#include "model.h"

namespace bpfence::ipt {

// The tools of one backend, run where the options say.
struct Tools {
  std::string backend;  // "nft" or "legacy"
  std::string netns;

  Status run(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr) const {
    return run_tool(argv, input, out, netns);
  }
  std::string iptables(Family f, const char* what) const {
    return std::string(f == Family::V4 ? "iptables-" : "ip6tables-") + backend + "-" + what;
  }
  Status restore(Family f, const std::string& text) const {
    std::vector<std::string> argv = {iptables(f, "restore"), "--noflush"};
    if (backend == "legacy") argv.push_back("--wait=10");  // the xtables lock
    return run(argv, text);
  }
  Status save(Family f, std::string* out) const {
    return run({iptables(f, "save"), "-t", "filter"}, "", out);
  }
  Status save_counters(Family f, std::string* out) const {
    return run({iptables(f, "save"), "-c", "-t", "filter"}, "", out);
  }
  Status ipset_restore(const std::string& text) const { return run({"ipset", "-exist", "restore"}, text); }
  Status ipset_save(std::string* out) const { return run({"ipset", "save"}, "", out); }
};

// "auto" -> what `iptables --version` says `iptables` is ("nft" or
// "legacy"); "nft" and "legacy" as they are.
Status detect_backend(const std::string& wanted, std::string* out);

}  // namespace bpfence::ipt
