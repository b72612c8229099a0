// Parsers for `ipset save` and `iptables-save` output.
#include "kernel_state.h"

#include <sstream>

namespace bpfence::ipt {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

Status parse_ipset_save(const std::string& text, const Names& names, std::map<std::string, Ipset>* out) {
  std::istringstream in(text);
  std::map<std::string, Ipset> sets;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    auto w = words(line);
    if (w.size() < 3 || !starts_with(w[1], names.set_prefix())) continue;
    const std::string& name = w[1];
    if (w[0] == "create") {
      Family f = Family::V4;
      for (size_t i = 3; i + 1 < w.size(); ++i)
        if (w[i] == "family") f = w[i + 1] == "inet6" ? Family::V6 : Family::V4;
      Family by_name = name.back() == '6' ? Family::V6 : Family::V4;
      if (w[2] != "hash:net" || f != by_name)
        return Status::error("ipset " + name + ": is " + w[2] + " family " + (f == Family::V4 ? "inet" : "inet6") +
                             ", bpfence makes hash:net of the family its name ends with; remove it with "
                             "`bpfence-agent --uninstall`");
      sets[name].family = f;
    } else if (w[0] == "add") {
      auto it = sets.find(name);
      if (it == sets.end()) continue;
      std::string elem = w[2];
      if (elem.find('/') == std::string::npos) elem += it->second.family == Family::V4 ? "/32" : "/128";
      auto p = Prefix::parse(elem);
      if (!p)
        return Status::error("ipset save line " + std::to_string(line_no) + ": set " + name + ": entry \"" + w[2] +
                             "\" is not an address or prefix");
      bool nomatch = false;
      for (size_t i = 3; i < w.size(); ++i) nomatch = nomatch || w[i] == "nomatch";
      it->second.entries[*p] = nomatch;
    }
  }
  *out = std::move(sets);
  return Status::ok();
}

void parse_iptables_save(const std::string& text, const Names& names,
                         std::map<std::string, std::optional<Chain>>* chains, std::vector<std::string>* jumps,
                         std::map<std::string, std::string>* dispatch, std::vector<std::string>* input_jumps,
                         std::vector<std::string>* local_jumps) {
  std::istringstream in(text);
  bool filter = false;
  const std::string jump = "-j " + names.forward_chain();
  const std::string input_jump = "-j " + names.source_dispatch_chain();
  const std::string local_jump = "-j " + names.local_dispatch_chain();
  // The jump is the last thing on the line, or followed by an option.
  auto jumps_to = [](const std::string& line, const std::string& j) {
    auto at = line.find(j);
    return at != std::string::npos && (at + j.size() == line.size() || line[at + j.size()] == ' ');
  };
  const std::string fwd_rule = "-A " + names.forward_chain() + " ";
  const std::string src_rule = "-A " + names.source_dispatch_chain() + " ";
  for (std::string line; std::getline(in, line);) {
    if (starts_with(line, "*")) {
      filter = line == "*filter";
      continue;
    }
    if (!filter) continue;
    if (starts_with(line, ":" + names.chain_prefix())) {
      auto w = words(line.substr(1));
      if (!w.empty()) (*chains)[w[0]] = std::nullopt;
    } else if (starts_with(line, "-A FORWARD ")) {
      if (jumps_to(line, jump)) jumps->push_back(line);
    } else if (starts_with(line, "-A INPUT ")) {
      if (input_jumps && jumps_to(line, input_jump)) input_jumps->push_back(line);
      if (local_jumps && jumps_to(line, local_jump)) local_jumps->push_back(line);
    } else if (dispatch && (starts_with(line, fwd_rule) || starts_with(line, src_rule))) {
      // -A <FWD> -i|-o <ifname> -m comment --comment <pod> -j <chain>; the
      // comment is quoted only when it needs to be. SRC has every bound pod,
      // FWD only the isolated ones.
      auto w = words(line);
      std::string ifname, pod;
      for (size_t i = 2; i + 1 < w.size(); ++i) {
        if (w[i] == "-i" || w[i] == "-o") ifname = w[i + 1];
        if (w[i] == "--comment") pod = w[i + 1];
      }
      if (pod.size() >= 2 && pod.front() == '"' && pod.back() == '"') pod = pod.substr(1, pod.size() - 2);
      if (!ifname.empty() && pod.find('/') != std::string::npos) (*dispatch)[pod] = ifname;
    }
  }
}

}  // namespace bpfence::ipt
