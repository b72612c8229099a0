#include "interface_binder.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "log.h"

namespace bpfence {
namespace {

std::string ips_text(const std::vector<IpAddress>& ips) {
  std::string s;
  for (const IpAddress& ip : ips) s += (s.empty() ? "" : ",") + ip.str();
  return s;
}

}  // namespace

void InterfaceBinder::reconcile(Dataplane& dp, const DesiredState& st, bool first_apply_done) {
  std::map<std::string, InterfaceBinding> cur;
  for (InterfaceBinding& b : dp.bindings()) cur[b.pod] = std::move(b);
  // Until the first apply succeeds, interfaces the previous agent enforced
  // stay as it left them: rebinding them now would point them at maps that
  // do not hold their policy.
  std::set<int> adopted;
  if (!first_apply_done) {
    std::vector<int> unclaimed = dp.unclaimed_ifindexes();
    adopted.insert(unclaimed.begin(), unclaimed.end());
  }

  std::map<std::string, Binding> next;
  for (const auto& [pod, es] : st.endpoints) {
    Binding b;
    std::optional<RouteTarget> target;
    for (const IpAddress& ip : es.ips)
      if ((target = interfaces_.lookup(ip))) break;
    auto c = cur.find(pod);
    // The pod's interface was deleted and a link of the same name is back
    // (CNIs name the host veth after the pod): bind it now, before its host
    // route exists, so no packet reaches or leaves the pod unenforced.
    // The same holds for a new veth into the pod's namespace (bridge CNIs
    // name veths at random), bound before its peer has the pod's address.
    std::string last_ifname;
    int last_ifindex = 0, last_netnsid = -1;
    auto prev = bindings_.find(pod);
    if (prev != bindings_.end()) last_netnsid = prev->second.netnsid;
    if (c != cur.end()) {
      last_ifname = c->second.ifname;
      last_ifindex = c->second.ifindex;
    } else if (prev != bindings_.end()) {
      last_ifname = prev->second.ifname;
      last_ifindex = prev->second.last_ifindex;
    }
    if (!target) {
      // Bound: stay on that link until it goes. Pending: only a new link.
      auto usable = [&](const std::optional<RouteTarget>& link) {
        return link && (c != cur.end() || link->ifindex != last_ifindex);
      };
      if (auto link = interfaces_.unrouted_link(last_ifname); usable(link))
        target = link;
      else if (auto into = interfaces_.veth_into(last_netnsid); usable(into))
        target = into;
    }
    b.netnsid = target && target->peer_netnsid >= 0 ? target->peer_netnsid : last_netnsid;
    if (!target) {
      if (c != cur.end()) {
        agentlog::info("interface gone", "pod=" + pod + " ifindex=" + std::to_string(c->second.ifindex));
        if (Status s = dp.unbind(pod); !s)
          agentlog::warn("unbind failed", "pod=" + pod + " error=" + agentlog::q(s.message()));
      } else if (!bindings_.count(pod) || bindings_[pod].state != EndpointView::State::pending) {
        agentlog::info("endpoint pending", "pod=" + pod + " ips=" + ips_text(es.ips) +
                                               " reason=\"no veth holds it or routes to it\"");
      }
      b.state = EndpointView::State::pending;
      b.error = "no veth found for " + ips_text(es.ips) + " (none whose peer holds it, no host route out of one)";
      b.ifname = last_ifname;  // remembered: a new link of that name is bound on sight
      b.last_ifindex = last_ifindex;
    } else if (c != cur.end() && c->second.ifindex == target->ifindex) {
      b.state = EndpointView::State::bound;
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
    } else if (adopted.count(target->ifindex)) {
      b.state = EndpointView::State::adopted;
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
      b.error = "enforced with the previous agent's state until the first apply succeeds";
    } else {
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
      if (Status s = dp.bind(InterfaceBinding{pod, target->ifindex, target->ifname}, st); s) {
        b.state = EndpointView::State::bound;
      } else {
        b.state = EndpointView::State::error;
        b.error = s.message();
        ++errors_total_;
        agentlog::error("bind failed", "pod=" + pod + " ifindex=" + std::to_string(target->ifindex) +
                                           " error=" + agentlog::q(s.message()));
      }
    }
    next[pod] = std::move(b);
  }
  for (const auto& [pod, b] : cur) {
    if (st.endpoints.count(pod)) continue;
    if (Status s = dp.unbind(pod); !s)
      agentlog::warn("unbind failed", "pod=" + pod + " error=" + agentlog::q(s.message()));
  }
  bindings_ = std::move(next);
}

std::map<std::string, uint32_t> InterfaceBinder::previous_endpoint_ids(const std::vector<EndpointRecord>& previous,
                                                                      const std::map<std::string, Pod>& pods,
                                                                      const std::string& node) const {
  std::map<int, const bf_endpoint*> by_ifindex;
  for (const EndpointRecord& r : previous) by_ifindex[static_cast<int>(r.ifindex)] = &r.endpoint;
  // The pod name is not in the map: a pod is matched by the interface its
  // host route leads to, and that entry must carry one of its IPs (a pod
  // recreated with the same IP on a new veth is a new endpoint).
  std::map<std::string, uint32_t> ids;
  for (const auto& [key, p] : pods) {
    const Pod* pod = &p;
    if (pod->node_name != node || pod->host_network) continue;
    for (const IpAddress& ip : pod->ips) {
      std::optional<RouteTarget> target = interfaces_.lookup(ip);
      if (!target) continue;
      auto e = by_ifindex.find(target->ifindex);
      if (e == by_ifindex.end()) continue;
      if (std::memcmp(e->second->ip4, ip.bytes.data(), 16) != 0 &&
          std::memcmp(e->second->ip6, ip.bytes.data(), 16) != 0)
        continue;
      ids[key] = e->second->endpoint_id;
      break;
    }
  }
  return ids;
}

const InterfaceBinder::Binding* InterfaceBinder::find(const std::string& pod) const {
  auto it = bindings_.find(pod);
  return it == bindings_.end() ? nullptr : &it->second;
}

bool InterfaceBinder::has_errors() const {
  return std::any_of(bindings_.begin(), bindings_.end(),
                     [](const auto& b) { return b.second.state == EndpointView::State::error; });
}

}  // namespace bpfence
