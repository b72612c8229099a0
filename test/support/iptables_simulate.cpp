// The chain walker behind simulate_forward().
#include "iptables_simulate.h"

namespace bpfence::ipt {
namespace {


enum class Walk { Accept, Drop, Return };

struct Walker {
  const Model& m;
  Family f;
  const SimPacket& p;
  std::string* error;

  bool matches(const Rule& r) const {
    if (!r.in_iface.empty() && r.in_iface != p.in_iface) return false;
    if (!r.out_iface.empty() && r.out_iface != p.out_iface) return false;
    if (!r.not_out_iface.empty() && r.not_out_iface == p.out_iface) return false;
    if (!r.physdev_in.empty() && r.physdev_in != p.physdev_in) return false;
    if (r.ctstate == Rule::Ct::EstablishedRelated && p.ct != SimPacket::Ct::Established) return false;
    if (r.ctstate == Rule::Ct::Invalid && p.ct != SimPacket::Ct::Invalid) return false;
    if (r.src && *r.src != p.src) return false;
    if (r.src_net && !r.src_net->contains(p.src)) return false;
    if (r.dst && *r.dst != p.dst) return false;
    if (r.proto && r.proto != p.proto) return false;
    if (!r.dports.empty()) {
      if (!ip_proto_has_ports(p.proto)) return false;
      bool in = false;
      for (const PortRange& pr : r.dports) in = in || (p.dport >= pr.first && p.dport <= pr.last);
      if (!in) return false;
    }
    if (!r.match_set.empty()) {
      auto it = m.sets.find(r.match_set);
      if (it == m.sets.end()) {
        if (error && error->empty()) *error = "rule names missing set " + r.match_set;
        return false;
      }
      if (!set_test(it->second, r.set_src ? p.src : p.dst)) return false;
    }
    return true;
  }

  Walk chain(const std::string& name, int depth) const {
    auto it = m.chains(f).find(name);
    if (it == m.chains(f).end() || depth > 8) {
      if (error && error->empty()) *error = "jump to missing chain " + name;
      return Walk::Return;
    }
    for (const Rule& r : it->second) {
      if (!matches(r)) continue;
      switch (r.target) {
        case Rule::Target::Accept: return Walk::Accept;
        case Rule::Target::Drop: return Walk::Drop;
        case Rule::Target::Return: return Walk::Return;
        case Rule::Target::Goto: return chain(r.jump, depth + 1);  // its RETURN is ours
        case Rule::Target::Jump: {
          Walk w = chain(r.jump, depth + 1);
          if (w != Walk::Return) return w;
          break;
        }
      }
    }
    return Walk::Return;
  }
};

}  // namespace

bool set_test(const Ipset& set, const IpAddress& ip) {
  for (int len = 128; len >= 0; --len) {
    Prefix p = Prefix::around(ip, len);
    if (auto it = set.entries.find(p); it != set.entries.end()) return !it->second;
  }
  return false;
}

SimVerdict simulate_forward(const Model& m, const Names& names, Family f, const SimPacket& p, std::string* error) {
  Walker w{m, f, p, error};
  switch (w.chain(names.forward_chain(), 0)) {
    case Walk::Accept: return SimVerdict::Accept;
    case Walk::Drop: return SimVerdict::Drop;
    case Walk::Return: return SimVerdict::Pass;
  }
  return SimVerdict::Pass;
}

}  // namespace bpfence::ipt
