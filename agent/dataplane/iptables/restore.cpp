// Turns (kernel as known, model wanted) into ipset and iptables-restore input.
#include "restore.h"

#include <cctype>
#include <set>

namespace bpfence::ipt {
namespace {

std::string proto_name(uint8_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
    default: return std::to_string(proto);
  }
}

std::string port_text(const PortRange& r) {
  return r.first == r.last ? std::to_string(r.first) : std::to_string(r.first) + ":" + std::to_string(r.last);
}

std::string host_text(const IpAddress& a) { return a.str() + (a.is_v4() ? "/32" : "/128"); }

// Comments are names of pods and of ClusterNetworkPolicy rules
// ("AdminDeny cnp/x egress[0]"); anything else becomes '_' so the restore
// line needs no escaping.
std::string safe_comment(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '.' || c == '_' || c == ' ' ||
          c == '[' || c == ']'))
      c = '_';
  return out;
}

const char* family_name(Family f) { return f == Family::V4 ? "inet" : "inet6"; }

}  // namespace

std::string rule_spec(const Rule& r, Family) {
  std::string s;
  auto add = [&](const std::string& part) {
    if (!s.empty()) s += ' ';
    s += part;
  };
  if (!r.in_iface.empty()) add("-i " + r.in_iface);
  if (!r.out_iface.empty()) add("-o " + r.out_iface);
  if (!r.not_out_iface.empty()) add("! -o " + r.not_out_iface);
  if (r.src) add("-s " + host_text(*r.src));
  if (r.src_net) add("-s " + r.src_net->str());
  if (r.dst) add("-d " + host_text(*r.dst));
  if (!r.physdev_in.empty()) add("-m physdev --physdev-in " + r.physdev_in);
  if (r.proto) {
    std::string p = proto_name(r.proto);
    add("-p " + p);
    if (r.dports.size() == 1) {
      add("-m " + p + " --dport " + port_text(r.dports[0]));
    } else if (!r.dports.empty()) {
      std::string list;
      for (const PortRange& pr : r.dports) list += (list.empty() ? "" : ",") + port_text(pr);
      add("-m multiport --dports " + list);
    }
  }
  if (!r.match_set.empty()) add("-m set --match-set " + r.match_set + (r.set_src ? " src" : " dst"));
  if (r.ctstate == Rule::Ct::EstablishedRelated) add("-m conntrack --ctstate RELATED,ESTABLISHED");
  if (r.ctstate == Rule::Ct::Invalid) add("-m conntrack --ctstate INVALID");
  if (!r.comment.empty()) add("-m comment --comment \"" + safe_comment(r.comment) + "\"");
  switch (r.target) {
    case Rule::Target::Accept: add("-j ACCEPT"); break;
    case Rule::Target::Drop: add("-j DROP"); break;
    case Rule::Target::Return: add("-j RETURN"); break;
    case Rule::Target::Jump: add("-j " + r.jump); break;
    case Rule::Target::Goto: add("-g " + r.jump); break;
  }
  return s;
}

std::string ipset_create_line(const std::string& name, const Ipset& set) {
  return "create " + name + " hash:net family " + family_name(set.family) + " hashsize 1024 maxelem " +
         std::to_string(kIpsetMaxElem);
}

std::string ipset_entry(const Prefix& p, bool nomatch) { return p.str() + (nomatch ? " nomatch" : ""); }

namespace {

// The names to compare: those changed, or every name either side holds.
template <class A, class B>
std::set<std::string> names_to_visit(bool all, const std::set<std::string>& changed, const A& have, const B& want) {
  if (!all) return changed;
  std::set<std::string> out;
  for (const auto& [name, v] : have) out.insert(name);
  for (const auto& [name, v] : want) out.insert(name);
  return out;
}

std::vector<Family> families_of(bool ipv6) {
  if (ipv6) return {Family::V4, Family::V6};
  return {Family::V4};
}

std::string jump_line(const Names& names, Family f, const std::string& chain) {
  Rule jump;
  jump.target = Rule::Target::Jump;
  jump.jump = chain;
  jump.comment = names.jump_comment();
  return rule_spec(jump, f);
}

// FORWARD -> FWD, INPUT -> SRC and LOCAL: inserted when missing, duplicates deleted.
void hook_jumps(const std::vector<std::string>& have, const std::string& hook, const std::string& line,
                std::string& tail) {
  if (have.empty()) tail += "-I " + hook + " 1 " + line + "\n";
  for (size_t i = 1; i < have.size(); ++i) tail += "-D" + have[i].substr(2) + "\n";
}

}  // namespace

RestoreTexts restore_texts(const Applied& have, const Model& want, const Changes& changes, const Names& names,
                           bool ipv6) {
  RestoreTexts t;

  // 1. Sets: new ones created and filled, changed ones get the difference
  // (adds first: an address that stays never disappears meanwhile).
  // 3. Sets no rule names any more are destroyed after the rules change.
  for (const std::string& name : names_to_visit(changes.all, changes.sets, have.sets, want.sets)) {
    auto next = want.sets.find(name);
    auto old = have.sets.find(name);
    if (next == want.sets.end()) {
      if (old != have.sets.end()) t.ipset_cleanup += "destroy " + name + "\n";
      continue;
    }
    const Ipset& set = next->second;
    if (old == have.sets.end()) {
      t.ipset_prepare += ipset_create_line(name, set) + "\n";
      for (const auto& [p, nomatch] : set.entries)
        t.ipset_prepare += "add " + name + " " + ipset_entry(p, nomatch) + "\n";
      continue;
    }
    for (const auto& [p, nomatch] : set.entries) {
      auto e = old->second.entries.find(p);
      // `add -exist` on an entry that is there rewrites its nomatch flag.
      if (e == old->second.entries.end() || e->second != nomatch)
        t.ipset_prepare += "add " + name + " " + ipset_entry(p, nomatch) + "\n";
    }
    for (const auto& [p, nomatch] : old->second.entries)
      if (!set.entries.count(p)) t.ipset_prepare += "del " + name + " " + ipset_entry(p, false) + "\n";
  }

  // 2. Chains, one transaction per family.
  for (Family f : families_of(ipv6)) {
    const auto& want_chains = want.chains(f);
    const auto& have_chains = have.chains(f);
    std::string decl, rules, tail;
    std::vector<std::string> gone;
    for (const std::string& name : names_to_visit(changes.all, changes.chains, have_chains, want_chains)) {
      auto next = want_chains.find(name);
      auto old = have_chains.find(name);
      if (next == want_chains.end()) {
        if (old != have_chains.end()) gone.push_back(name);
        continue;
      }
      if (old != have_chains.end() && old->second && *old->second == next->second) continue;
      // With --noflush, declaring a chain that exists flushes it.
      decl += ":" + name + " - [0:0]\n";
      for (const Rule& r : next->second) rules += "-A " + name + " " + rule_spec(r, f) + "\n";
    }
    hook_jumps(have.jumps(f), "FORWARD", jump_line(names, f, names.forward_chain()), tail);
    if (want_chains.count(names.source_dispatch_chain()))
      hook_jumps(have.input_jumps(f), "INPUT", jump_line(names, f, names.source_dispatch_chain()), tail);
    // LOCAL exists only while a pod needs it: its jump goes before it does.
    if (want_chains.count(names.local_dispatch_chain()))
      hook_jumps(have.local_jumps(f), "INPUT", jump_line(names, f, names.local_dispatch_chain()), tail);
    else
      for (const auto& line : have.local_jumps(f)) tail += "-D" + line.substr(2) + "\n";
    // Chains go after the rewritten FWD chain no longer jumps to them.
    for (const auto& name : gone) tail += "-F " + name + "\n";
    for (const auto& name : gone) tail += "-X " + name + "\n";
    if (!decl.empty() || !tail.empty()) t.iptables(f) = "*filter\n" + decl + rules + tail + "COMMIT\n";
  }
  return t;
}

void patch_applied(Applied& have, const Model& want, const Changes& changes, const Names& names, bool ipv6) {
  for (const std::string& name : names_to_visit(changes.all, changes.sets, have.sets, want.sets)) {
    auto next = want.sets.find(name);
    if (next == want.sets.end())
      have.sets.erase(name);
    else
      have.sets[name] = next->second;
  }
  for (Family f : families_of(ipv6)) {
    auto& have_chains = have.chains(f);
    const auto& want_chains = want.chains(f);
    for (const std::string& name : names_to_visit(changes.all, changes.chains, have_chains, want_chains)) {
      auto next = want_chains.find(name);
      if (next == want_chains.end())
        have_chains.erase(name);
      else
        have_chains[name] = next->second;
    }
    have.jumps(f) = {"-A FORWARD " + jump_line(names, f, names.forward_chain())};
    if (want_chains.count(names.source_dispatch_chain()))
      have.input_jumps(f) = {"-A INPUT " + jump_line(names, f, names.source_dispatch_chain())};
    if (want_chains.count(names.local_dispatch_chain()))
      have.local_jumps(f) = {"-A INPUT " + jump_line(names, f, names.local_dispatch_chain())};
    else
      have.local_jumps(f).clear();
  }
}

RestoreTexts uninstall_texts(const Applied& have) {
  RestoreTexts t;
  for (Family f : {Family::V4, Family::V6}) {
    std::string body;
    for (const auto& line : have.jumps(f)) body += "-D" + line.substr(2) + "\n";
    for (const auto& line : have.input_jumps(f)) body += "-D" + line.substr(2) + "\n";
    for (const auto& line : have.local_jumps(f)) body += "-D" + line.substr(2) + "\n";
    for (const auto& [name, chain] : have.chains(f)) body += "-F " + name + "\n";
    for (const auto& [name, chain] : have.chains(f)) body += "-X " + name + "\n";
    if (!body.empty()) t.iptables(f) = "*filter\n" + body + "COMMIT\n";
  }
  for (const auto& [name, set] : have.sets) t.ipset_cleanup += "destroy " + name + "\n";
  return t;
}

}  // namespace bpfence::ipt
