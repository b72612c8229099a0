// Parsers for conntrack listings and rule counters, and the two readers
// built on them (iptables_conntrack, iptables_counters).
#include "conntrack.h"

#include <map>
#include <sstream>
#include <thread>

#include "tools.h"

namespace bpfence {
namespace ipt {
namespace {

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

std::vector<ConntrackEntry> parse_conntrack(const std::string& text) {
  std::vector<ConntrackEntry> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ws(line);
    std::vector<std::string> w;
    for (std::string t; ws >> t;) w.push_back(t);
    size_t i = 0;
    // /proc/net/nf_conntrack starts with the family: "ipv4 2".
    if (w.size() > 2 && (w[0] == "ipv4" || w[0] == "ipv6") && is_number(w[1])) i = 2;
    if (w.size() < i + 4 || !is_number(w[i + 1]) || !is_number(w[i + 2])) continue;
    ConntrackEntry e;
    e.proto = parse_ip_proto(w[i + 1]).value_or(parse_ip_proto(w[i]).value_or(0));  // "tcp 6"
    e.timeout_s = static_cast<uint32_t>(std::stoul(w[i + 2]));
    i += 3;
    if (i < w.size() && w[i].find('=') == std::string::npos && w[i][0] != '[') e.state = w[i++];
    int tuple = -1;  // 0 original, 1 reply
    bool ok = true;
    for (; i < w.size() && ok; ++i) {
      const std::string& t = w[i];
      if (t == "[ASSURED]") e.assured = true;
      if (t == "[UNREPLIED]") e.unreplied = true;
      auto eq = t.find('=');
      if (eq == std::string::npos) continue;
      std::string k = t.substr(0, eq), v = t.substr(eq + 1);
      if (k == "src") ++tuple;
      if (tuple < 0 || tuple > 1) continue;
      bool orig = tuple == 0;
      if (k == "src" || k == "dst") {
        auto ip = IpAddress::parse(v);
        if (!ip) {
          ok = false;
          continue;
        }
        (k == "src" ? (orig ? e.src : e.reply_src) : (orig ? e.dst : e.reply_dst)) = *ip;
      } else if (is_number(v)) {
        uint64_t n = std::stoull(v);
        if (k == "sport" || k == "id") (orig ? e.sport : e.reply_sport) = static_cast<uint16_t>(n);
        if (k == "dport" || k == "type") (orig ? e.dport : e.reply_dport) = static_cast<uint16_t>(n);
        if (k == "packets") e.packets += n;
        if (k == "bytes") e.bytes += n;
      }
    }
    if (ok && tuple >= 0) out.push_back(std::move(e));
  }
  return out;
}

std::vector<RuleCounter> parse_rule_counters(const std::string& text, const Names& names) {
  std::map<std::pair<uint8_t, uint8_t>, RuleCounter> sums;
  const std::string ours = "-A " + names.chain_prefix();
  const std::string fwd = "-A " + names.forward_chain() + " ";
  const std::string source = "-A " + names.chain_prefix() + "S";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    // [packets:bytes] -A CHAIN rule...
    if (line.empty() || line[0] != '[') continue;
    auto close = line.find("] ");
    auto colon = line.find(':');
    if (close == std::string::npos || colon == std::string::npos || colon > close) continue;
    std::string rule = line.substr(close + 2);
    if (rule.compare(0, ours.size(), ours) != 0 || rule.compare(0, fwd.size(), fwd) == 0) continue;
    uint64_t packets = 0, bytes = 0;
    try {
      packets = std::stoull(line.substr(1, colon - 1));
      bytes = std::stoull(line.substr(colon + 1, close - colon - 1));
    } catch (...) {
      continue;
    }
    if (packets == 0) continue;
    auto has = [&](const char* s) { return rule.find(s) != std::string::npos; };
    uint8_t action = BF_ACT_FORWARD, reason = BF_R_POLICY;
    if (rule.compare(0, source.size(), source) == 0) {
      // A source chain (and SRC, which dispatches to them) only drops:
      // what it lets through is decided after.
      if (!has(kSpoofedSourceComment)) continue;
      action = BF_ACT_DROP;
      reason = BF_R_SPOOFED_SOURCE;
    } else if (has(" -g ") || has(kAdminPass) || has(kBaselinePass)) {
      // A Pass and the way to the steps after the Admin stage decide nothing.
      continue;
    } else if (has(kAdminDeny) || has(kBaselineDeny)) {
      action = BF_ACT_DROP;
      reason = has(kAdminDeny) ? BF_R_ADMIN_DENY : BF_R_BASELINE_DENY;
    } else if (has(kAdminAccept) || has(kBaselineAccept)) {
      reason = has(kAdminAccept) ? BF_R_ADMIN_ACCEPT : BF_R_BASELINE_ACCEPT;
    } else if (has("RELATED,ESTABLISHED")) {
      reason = BF_R_REPLY;
    } else if (has("--ctstate INVALID")) {
      action = BF_ACT_DROP;
      reason = BF_R_INVALID;
    } else if (has(("--match-set " + names.set_prefix() + "host-").c_str())) {
      reason = BF_R_HOST;
    } else if (has("-j DROP")) {
      action = BF_ACT_DROP;
      reason = BF_R_FW_POLICY;
    } else if ((has(" -s ") || has(" -d ")) && !has(" -p ") && !has("--match-set")) {
      reason = BF_R_SELF;
    }
    RuleCounter& c = sums[{action, reason}];
    c.action = action;
    c.reason = reason;
    c.packets += packets;
    c.bytes += bytes;
  }
  std::vector<RuleCounter> out;
  for (const auto& [k, c] : sums) out.push_back(c);
  return out;
}

Status list_conntrack(const Tools& tools, std::vector<ConntrackEntry>* out) {
  std::string text;
  // A child spawned in the namespace reads its own namespace's table.
  Status s = tools.run({"cat", "/proc/self/net/nf_conntrack"}, "", &text);
  if (!s) {
    Status tool = tools.run({"conntrack", "-L"}, "", &text);
    if (!tool)
      return Status::error("conntrack: no /proc/net/nf_conntrack (" + s.message() + ") and `conntrack -L` failed (" +
                           tool.message() + ")");
  }
  *out = parse_conntrack(text);
  return Status::ok();
}

namespace {

// One `conntrack -D` to completion. It lists what matches, then deletes
// entry by entry and gives up at the first one already gone (exit 1, "such
// conntrack doesn't exist"), leaving the entries after it in place. Gone
// is ordinary: an entry expires (CLOSE lasts 10 s), or something else
// deleted it (another agent's call, an operator's `conntrack -D`). So
// a call that gave up runs again on what is left; entries only leave, so
// a few rounds settle it. Exit 1 with "0 flow entries have been deleted"
// is nothing left to do.
Status delete_until_done(const Tools& tools, const std::vector<std::string>& call) {
  constexpr int kAttempts = 8;
  Status s;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string out;
    s = tools.run(call, "", &out);
    if (s || s.message().find("flow entries have been deleted") != std::string::npos) return Status::ok();
    if (s.message().find("such conntrack doesn't exist") == std::string::npos) return s;
  }
  return s;
}

// The `conntrack -D` that deletes e and the entries of the same flow
// but for the source port: same protocol, addresses, destination port
// and DNAT target, so the same verdict.
std::vector<std::string> delete_call(const ConntrackEntry& e) {
  std::vector<std::string> call = {"conntrack", "-D", "-f", e.src.is_v4() ? "ipv4" : "ipv6", "-p", ip_proto_name(e.proto),
                                   "-s", e.src.str(), "-d", e.dst.str(), "-r", e.reply_src.str()};
  if (ip_proto_has_ports(e.proto))
    call.insert(call.end(), {"--dport", std::to_string(e.dport), "--reply-port-src", std::to_string(e.reply_sport)});
  return call;
}

}  // namespace

Status forget_flows(const Tools& tools, const std::set<IpAddress>& ips,
                    const std::function<bool(const ConntrackEntry&)>& still_allowed, size_t* deletes) {
  std::vector<ConntrackEntry> entries;
  if (Status s = list_conntrack(tools, &entries); !s) return s;
  std::set<std::vector<std::string>> unique;
  for (const ConntrackEntry& e : entries)
    if ((ips.count(e.src) || ips.count(e.reply_src)) && !still_allowed(e)) unique.insert(delete_call(e));
  std::vector<std::vector<std::string>> calls(unique.begin(), unique.end());
  *deletes = calls.size();
  // Every call is a process: a few run side by side.
  std::vector<Status> results(calls.size());
  constexpr size_t kParallel = 8;
  for (size_t start = 0; start < calls.size(); start += kParallel) {
    std::vector<std::thread> workers;
    for (size_t i = start; i < calls.size() && i < start + kParallel; ++i)
      workers.emplace_back([&, i] { results[i] = delete_until_done(tools, calls[i]); });
    for (auto& w : workers) w.join();
  }
  for (const Status& s : results)
    if (!s) return s;
  return Status::ok();
}

}  // namespace ipt

Status iptables_conntrack(const IptablesDataplaneOptions& options, std::vector<ConntrackEntry>* out) {
  ipt::Tools tools;
  tools.netns = options.netns;
  return ipt::list_conntrack(tools, out);
}

Status iptables_counters(const IptablesDataplaneOptions& options, std::vector<RuleCounter>* out) {
  ipt::Tools tools;
  tools.netns = options.netns;
  if (Status s = ipt::detect_backend(options.backend, &tools.backend); !s) return s;
  ipt::Names names{options.tag.empty() ? iptables_node_tag(options.node) : options.tag};
  std::string text;
  if (Status s = tools.save_counters(ipt::Family::V4, &text); !s) return s;
  if (options.ipv6) {
    std::string v6;
    if (tools.save_counters(ipt::Family::V6, &v6)) text += v6;  // no ip6tables: IPv4 only
  }
  *out = ipt::parse_rule_counters(text, names);
  return Status::ok();
}

}  // namespace bpfence
