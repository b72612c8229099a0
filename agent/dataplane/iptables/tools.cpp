// Backend detection for tools.h.
#include "tools.h"

namespace bpfence::ipt {

Status detect_backend(const std::string& wanted, std::string* out) {
  if (wanted == "nft" || wanted == "legacy") {
    *out = wanted;
    return Status::ok();
  }
  if (wanted != "auto")
    return Status::error("iptables dataplane: backend \"" + wanted + "\" is not one of auto, nft, legacy");
  std::string version;
  if (Status s = run_tool({"iptables", "--version"}, "", &version); !s)
    return Status::error("iptables dataplane: cannot tell the backend: " + s.message());
  if (version.find("nf_tables") != std::string::npos) {
    *out = "nft";
  } else if (version.find("legacy") != std::string::npos) {
    *out = "legacy";
  } else {
    return Status::error("iptables dataplane: `iptables --version` says \"" + version +
                         "\", neither nf_tables nor legacy; set the backend");
  }
  return Status::ok();
}

}  // namespace bpfence::ipt
