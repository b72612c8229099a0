// Renders the desired state as ipsets and chains (see README.md here for the
// design): per bound endpoint its chains from rules.h's groups, per group
// the peer set (the union of its identities' addresses, except as nomatch),
// and the FWD dispatch chain; incrementally after the first full render.
#include "render.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <type_traits>
#include <unordered_map>

#include "rules.h"

namespace bpfence::ipt {
namespace {

bool in_family(const Prefix& p, Family f) { return p.is_v4() == (f == Family::V4); }
bool in_family(const IpAddress& a, Family f) { return a.is_v4() == (f == Family::V4); }

void put(std::map<Prefix, std::pair<int, bool>>& elems, const Prefix& p, int strength, bool nomatch) {
  auto it = elems.find(p);
  if (it == elems.end() || strength > it->second.first) elems[p] = {strength, nomatch};
}

// What one bound endpoint needs, kept so a fail-closed mark or an unbind
// needs no state.
struct EndpointRender {
  std::string ifname;
  uint32_t endpoint_id = 0;
  std::vector<IpAddress> ips;
  std::vector<Prefix> source_prefixes;
  bool isolated[2] = {false, false};  // by bf_direction
  RuleGroups groups[2];               // peers -> the specs they may use
  // ClusterNetworkPolicy stages by [bf_direction][bf_tier], Baseline left
  // empty where the pod is isolated (the NetworkPolicy step decides there),
  // with the comment of each of their rules by rule id.
  CnpStage stages[2][2];
  std::map<uint32_t, std::string> rule_names;

  // Whether the direction needs a chain (fail-closed aside).
  bool has_chain(bf_direction dir) const {
    return isolated[dir] || !stages[dir][BF_TIER_ADMIN].empty() || !stages[dir][BF_TIER_BASELINE].empty();
  }
  // Every peer set its rules name (BF_ID_ANY: no set).
  template <class F>
  void for_each_peers(F&& f) const {
    for (const auto& g : groups)
      for (const auto& [peers, specs] : g) f(peers);
    for (const auto& dir : stages)
      for (const auto& stage : dir)
        for (const auto& rule : stage)
          for (const auto& [peers, specs] : rule.groups) f(peers);
  }
};

// The first word of a ClusterNetworkPolicy rule's comment.
const char* cnp_kind(uint8_t tier, uint8_t action) {
  bool admin = tier == BF_TIER_ADMIN;
  switch (action) {
    case BF_CNP_ACCEPT: return admin ? kAdminAccept : kBaselineAccept;
    case BF_CNP_PASS: return admin ? kAdminPass : kBaselinePass;
    default: return admin ? kAdminDeny : kBaselineDeny;
  }
}

// "cnp/deny-metadata egress[0]": the rule, as flows name it (without the
// action, which the comment's first word says).
std::string cnp_rule_name(const DesiredState& s, uint32_t rule_id) {
  auto it = s.cluster_rules.find(rule_id);
  if (it == s.cluster_rules.end()) return "rule " + std::to_string(rule_id);
  return it->second.where();
}

}  // namespace

struct Renderer::Impl {
  Names names;
  bool ipv6 = true;
  bool consistent = false;
  Model model;
  Changes changes;

  // The addresses and prefixes of the state, indexed by identity.
  std::map<IpAddress, uint32_t> addr_ids;
  std::map<uint32_t, std::set<IpAddress>> pod_ips;
  std::set<IpAddress> host_ips;
  std::map<Prefix, uint32_t> prefix_ids;
  std::map<uint32_t, std::set<Prefix>> id_prefixes;

  std::unordered_map<uint32_t, EndpointKeys> ep_keys;  // endpoint id -> its entries
  std::map<std::string, EndpointRender> eps;          // bound pods the state knows
  std::set<std::string> fail_closed;

  // Peer sets in use, with how many endpoint directions use them.
  struct Live {
    int refs = 0;
    std::string stem;  // name without the family suffix
  };
  std::map<PeerSet, Live> live;
  std::map<std::string, PeerSet> by_stem;
  // identity -> the live peer sets holding it (keys of `live`, whose
  // addresses do not move while they are in the map).
  std::map<uint32_t, std::set<const PeerSet*>> sets_by_id;
  Status error;  // first failure of this render

  std::vector<Family> families() const {
    if (ipv6) return {Family::V4, Family::V6};
    return {Family::V4};
  }

  void reset() {
    model = {};
    changes = {};
    changes.all = true;
    addr_ids.clear();
    pod_ips.clear();
    host_ips.clear();
    prefix_ids.clear();
    id_prefixes.clear();
    ep_keys.clear();
    eps.clear();
    live.clear();
    by_stem.clear();
    sets_by_id.clear();
    error = Status::ok();
  }

  void index_addr(const IpAddress& ip, std::optional<uint32_t> id, std::set<uint32_t>& affected, bool& host) {
    if (auto old = addr_ids.find(ip); old != addr_ids.end()) {
      if (old->second == BF_ID_HOST) {
        host_ips.erase(ip);
        host = true;
      } else {
        auto& list = pod_ips[old->second];
        list.erase(ip);
        if (list.empty()) pod_ips.erase(old->second);
        affected.insert(old->second);
        affected.insert(BF_ID_ANY_POD);
      }
      addr_ids.erase(old);
    }
    if (!id) return;
    addr_ids[ip] = *id;
    if (*id == BF_ID_HOST) {
      host_ips.insert(ip);
      host = true;
    } else {
      pod_ips[*id].insert(ip);
      affected.insert(*id);
      affected.insert(BF_ID_ANY_POD);
    }
  }

  void index_prefix(const Prefix& p, std::optional<uint32_t> id, std::set<uint32_t>& affected) {
    if (auto old = prefix_ids.find(p); old != prefix_ids.end()) {
      auto& list = id_prefixes[old->second];
      list.erase(p);
      if (list.empty()) id_prefixes.erase(old->second);
      affected.insert(old->second);
      prefix_ids.erase(old);
    }
    // The prefixes around it gain or lose a nomatch entry.
    for (int len = static_cast<int>(p.len) - 1; len >= 0; --len) {
      if (auto it = prefix_ids.find(Prefix::around(p.addr, len)); it != prefix_ids.end()) affected.insert(it->second);
    }
    if (!id) return;
    prefix_ids[p] = *id;
    id_prefixes[*id].insert(p);
    affected.insert(*id);
  }

  template <class Key>
  void drop_key(const Key& k) {
    auto it = ep_keys.find(k.k.endpoint_id);
    if (it == ep_keys.end()) return;
    if constexpr (std::is_same_v<Key, PolicyKey>)
      it->second.policy[k.k.direction & 1].erase(k);
    else if constexpr (std::is_same_v<Key, ClusterKey>)
      it->second.cluster[k.k.direction & 1].erase(k);
    else
      it->second.ranges[k.k.direction & 1].erase(k);
    if (it->second.empty()) ep_keys.erase(it);
  }

  // The union of the identities' addresses in one family. A CIDR identity
  // is its prefix minus the longer named prefixes inside it that belong to
  // other identities (nomatch entries: ipset's most specific entry decides,
  // which is the datapath's longest-prefix match). Pod IPs of member
  // identities are host entries, which beat any nomatch prefix around them.
  Ipset content(const PeerSet& ids, Family f) const {
    std::map<Prefix, std::pair<int, bool>> elems;  // prefix -> (strength, nomatch)
    for (uint32_t id : ids) {
      if (id == BF_ID_ANY_POD)  // every pod's address (not the hosts')
        for (const auto& [pod_id, ips] : pod_ips)
          for (const IpAddress& ip : ips)
            if (in_family(ip, f)) put(elems, Prefix{ip, 128}, 2, false);
      if (auto it = pod_ips.find(id); it != pod_ips.end())
        for (const IpAddress& ip : it->second)
          if (in_family(ip, f)) put(elems, Prefix{ip, 128}, 2, false);
      auto pit = id_prefixes.find(id);
      if (pit == id_prefixes.end()) continue;
      for (const Prefix& x : pit->second) {
        if (!in_family(x, f)) continue;
        if (x.user_len() == 0) {
          // hash:net cannot hold a /0: two halves, weaker than a named /1.
          Prefix lo{x.addr, static_cast<uint8_t>(x.len + 1)};
          Prefix hi = lo;
          hi.addr.bytes[f == Family::V4 ? 12 : 0] |= 0x80;
          put(elems, lo, 0, false);
          put(elems, hi, 0, false);
        } else {
          put(elems, x, 1, false);
        }
        for (auto it = prefix_ids.lower_bound(Prefix{x.addr, 0});
             it != prefix_ids.end() && x.contains(it->first.addr); ++it)
          if (it->first.len > x.len && in_family(it->first, f) && !holds(ids, it->second))
            put(elems, it->first, 1, true);
      }
    }
    Ipset set;
    set.family = f;
    for (const auto& [p, v] : elems) set.entries.emplace_hint(set.entries.end(), p, v.second);
    return set;
  }

  void store_set(const std::string& name, Ipset set) {
    if (set.entries.size() > kIpsetMaxElem && error.is_ok())
      error = Status::error("ipset " + name + ": " + std::to_string(set.entries.size()) + " entries, more than " +
                            std::to_string(kIpsetMaxElem) + "; nothing was written");
    auto it = model.sets.find(name);
    if (it != model.sets.end() && it->second == set) return;
    model.sets[name] = std::move(set);
    changes.sets.insert(name);
  }

  void refresh_set(const PeerSet& ids) {
    const std::string& stem = live.at(ids).stem;
    for (Family f : families()) store_set(stem + Names::suffix(f), content(ids, f));
  }

  void refresh_host() {
    for (Family f : families()) {
      Ipset set;
      set.family = f;
      for (const IpAddress& ip : host_ips)
        if (in_family(ip, f)) set.entries.emplace(Prefix{ip, 128}, false);
      store_set(names.host_set(f), std::move(set));
    }
  }

  void acquire(const PeerSet& ids) {
    auto [entry, added] = live.try_emplace(ids);
    Live& l = entry->second;
    if (l.refs++ > 0) return;
    std::vector<uint32_t> sorted(ids.begin(), ids.end());
    l.stem = names.peer_set(identities_hash(sorted), Family::V4);
    l.stem.pop_back();  // the family suffix
    auto [b, inserted] = by_stem.emplace(l.stem, ids);
    if (!inserted && b->second != ids && error.is_ok())
      error = Status::error("ipset name " + l.stem + "*: two peer sets hash the same");
    for (uint32_t id : ids) sets_by_id[id].insert(&entry->first);
    for (Family f : families()) model.set_identities[l.stem + Names::suffix(f)] = sorted;
    refresh_set(ids);
  }

  void release(const PeerSet& ids) {
    auto it = live.find(ids);
    if (it == live.end() || --it->second.refs > 0) return;
    for (Family f : families()) {
      std::string name = it->second.stem + Names::suffix(f);
      model.sets.erase(name);
      model.set_identities.erase(name);
      changes.sets.insert(name);
    }
    if (auto b = by_stem.find(it->second.stem); b != by_stem.end() && b->second == ids) by_stem.erase(b);
    for (uint32_t id : ids) {
      auto s = sets_by_id.find(id);
      if (s == sets_by_id.end()) continue;
      s->second.erase(&it->first);
      if (s->second.empty()) sets_by_id.erase(s);
    }
    live.erase(it);
  }

  // What the pod may send from: its own addresses and its extra prefixes
  // RETURN, anything else is dropped (counted as SpoofedSource), whatever
  // its policies, as the BPF datapath does. Policy is decided by source
  // address, so a borrowed one would be judged as another pod's.
  void write_source_chain(const EndpointRender& er) {
    std::string name = names.source_chain(er.endpoint_id);
    changes.chains.insert(name);
    for (Family f : families()) {
      Chain c;
      for (const IpAddress& ip : er.ips) {
        if (!in_family(ip, f)) continue;
        Rule own = target_rule(Rule::Target::Return);
        own.src = ip;
        c.push_back(own);
      }
      for (const Prefix& p : er.source_prefixes) {
        if (!in_family(p, f)) continue;
        Rule extra = target_rule(Rule::Target::Return);
        extra.src_net = p;
        c.push_back(extra);
      }
      Rule drop = target_rule(Rule::Target::Drop);
      drop.comment = kSpoofedSourceComment;
      c.push_back(drop);
      model.chains(f)[name] = std::move(c);
    }
  }

  // A stage's rules in rank order: Accept RETURNs (allowed, as a
  // NetworkPolicy allow), Deny drops, Pass goes to `pass` ("": RETURN).
  void append_stage(const EndpointRender& er, bf_direction dir, bf_tier tier, const std::string& pass, Family f,
                    Chain& c) const {
    for (const CnpStageRule& rule : er.stages[dir][tier]) {
      Rule base = target_rule(Rule::Target::Return);
      if (rule.action == BF_CNP_DENY) base.target = Rule::Target::Drop;
      if (rule.action == BF_CNP_PASS && !pass.empty()) {
        base.target = Rule::Target::Goto;
        base.jump = pass;
      }
      base.comment = std::string(cnp_kind(tier, rule.action)) + " " + er.rule_names.at(rule.rule_id);
      for (const auto& [peers, specs] : rule.groups)
        append_group(specs, set_name(peers, f), dir == BF_DIR_INGRESS, c, base);
    }
  }

  std::string set_name(const PeerSet& peers, Family f) const {
    return has_any_peer(peers) ? "" : live.at(peers).stem + Names::suffix(f);
  }

  // Chains of one endpoint (both directions, every family), from its render,
  // in the order of evaluation: established flows and invalid packets, the
  // pod itself, a fail-closed pod's host exemption and drop; the Admin
  // stage; where the pod is isolated that way the node's own addresses,
  // the NetworkPolicy rules and the final drop, else the Baseline stage
  // (what it does not deny is allowed, the node's addresses included). An Admin Pass skips the rest of its
  // stage: the steps after it are then a chain of their own (-P) it goes to.
  void write_chains(const EndpointRender& er, bool fc) {
    write_source_chain(er);
    for (bf_direction dir : {BF_DIR_EGRESS, BF_DIR_INGRESS}) {
      std::string name = names.endpoint_chain(dir, er.endpoint_id);
      std::string after = names.after_admin_chain(dir, er.endpoint_id);
      changes.chains.insert(name);
      changes.chains.insert(after);
      const CnpStage& admin = er.stages[dir][BF_TIER_ADMIN];
      bool pass = !fc && std::any_of(admin.begin(), admin.end(),
                                     [](const CnpStageRule& r) { return r.action == BF_CNP_PASS; });
      for (Family f : families()) {
        if (!pass) model.chains(f).erase(after);
        if (!er.has_chain(dir) && !fc) model.chains(f).erase(name);
      }
      if (!er.has_chain(dir) && !fc) continue;
      bool peer_is_src = dir == BF_DIR_INGRESS;  // to the pod: the peer sends
      for (Family f : families()) {
        Chain c;
        c.push_back(ct_rule(Rule::Ct::EstablishedRelated, Rule::Target::Accept));
        c.push_back(ct_rule(Rule::Ct::Invalid, Rule::Target::Drop));
        // The node's own addresses, then the pod itself: always allowed.
        // The node's exemption belongs to the NetworkPolicy step: with
        // ClusterNetworkPolicy stages it comes after the Admin stage, and
        // where the pod is not isolated the Baseline stage decides too.
        Rule host = target_rule(Rule::Target::Return);
        host.match_set = names.host_set(f);
        host.set_src = peer_is_src;
        bool host_first = fc || (admin.empty() && er.stages[dir][BF_TIER_BASELINE].empty());
        if (host_first) c.push_back(host);
        for (const IpAddress& ip : er.ips) {
          if (!in_family(ip, f)) continue;
          Rule self = target_rule(Rule::Target::Return);
          (peer_is_src ? self.src : self.dst) = ip;
          c.push_back(self);
        }
        if (fc) {
          c.push_back(target_rule(Rule::Target::Drop));
          model.chains(f)[name] = std::move(c);
          continue;
        }
        append_stage(er, dir, BF_TIER_ADMIN, pass ? after : "", f, c);
        Chain rest;
        if (er.isolated[dir]) {
          if (!host_first) rest.push_back(host);
          for (const auto& [peers, specs] : er.groups[dir]) append_group(specs, set_name(peers, f), peer_is_src, rest);
          rest.push_back(target_rule(Rule::Target::Drop));
        } else {
          append_stage(er, dir, BF_TIER_BASELINE, "", f, rest);
        }
        if (pass) {
          Rule go = target_rule(Rule::Target::Goto);
          go.jump = after;
          c.push_back(go);
          model.chains(f)[after] = std::move(rest);
        } else {
          c.insert(c.end(), rest.begin(), rest.end());
        }
        model.chains(f)[name] = std::move(c);
      }
    }
  }

  void erase_chains(const EndpointRender& er) {
    for (const std::string& name : {names.endpoint_chain(BF_DIR_EGRESS, er.endpoint_id),
                                    names.endpoint_chain(BF_DIR_INGRESS, er.endpoint_id),
                                    names.after_admin_chain(BF_DIR_EGRESS, er.endpoint_id),
                                    names.after_admin_chain(BF_DIR_INGRESS, er.endpoint_id),
                                    names.source_chain(er.endpoint_id)}) {
      for (Family f : families()) model.chains(f).erase(name);
      changes.chains.insert(name);
    }
  }

  EndpointRender compute(const DesiredState& s, const EndpointState& es, const std::string& ifname) const {
    EndpointRender er;
    er.ifname = ifname;
    er.endpoint_id = es.endpoint_id;
    er.ips = es.ips;
    er.source_prefixes = es.source_prefixes;
    er.isolated[BF_DIR_INGRESS] = es.ingress_isolated;
    er.isolated[BF_DIR_EGRESS] = es.egress_isolated;
    auto keys = ep_keys.find(es.endpoint_id);
    if (keys == ep_keys.end()) return er;
    for (bf_direction dir : {BF_DIR_EGRESS, BF_DIR_INGRESS}) {
      if (er.isolated[dir]) er.groups[dir] = rule_groups(keys->second, dir);
      for (bf_tier tier : {BF_TIER_ADMIN, BF_TIER_BASELINE}) {
        // Baseline only decides where no NetworkPolicy isolates the pod.
        if (!(es.cnp_stages & BF_CNP_STAGE(dir, tier)) || (tier == BF_TIER_BASELINE && er.isolated[dir])) continue;
        er.stages[dir][tier] = cnp_stage(keys->second, dir, tier);
        for (const CnpStageRule& r : er.stages[dir][tier]) er.rule_names[r.rule_id] = cnp_rule_name(s, r.rule_id);
      }
    }
    return er;
  }

  // Puts `next` (or nothing) in place of the pod's current render. New sets
  // are taken before old ones are let go, so a set both use survives.
  void replace(const std::string& pod, std::optional<EndpointRender> next) {
    if (next)
      next->for_each_peers([&](const PeerSet& peers) {
        if (!has_any_peer(peers)) acquire(peers);
      });
    if (auto old = eps.find(pod); old != eps.end()) {
      erase_chains(old->second);
      old->second.for_each_peers([&](const PeerSet& peers) {
        if (!has_any_peer(peers)) release(peers);
      });
      eps.erase(old);
    }
    if (!next) return;
    write_chains(*next, fail_closed.count(pod) > 0);
    eps[pod] = std::move(*next);
  }

  // The dispatch chains. SRC: from every pod its source check; INPUT jumps
  // to it, and it comes first in FWD, before any chain that could accept the
  // packet (another pod's ingress chain accepts established flows). FWD
  // then: from the pod (-i) its egress chain, to the pod (-o) its ingress
  // chain. A pod on a bridge (flannel, CNI bridge) is neither the in nor the
  // out interface: with br_netfilter, its frames cross FORWARD with the
  // bridge as both, so what comes from a pod also matches the bridge port it
  // came in by (physdev-in, bridged or routed on), and ingress the pod's
  // address when it leaves by any other interface (the out port of a frame
  // routed onto the bridge is not known in FORWARD). On a routed node
  // neither twin ever matches what its -i/-o rule does not.
  void write_forward() {
    Chain src;
    for (const auto& [pod, er] : eps) push_from_pod(src, jump_to(names.source_chain(er.endpoint_id), pod), er.ifname);
    Chain local = local_dispatch();
    for (Family f : families()) {
      Chain fwd{jump_to(names.source_dispatch_chain(), "")};
      for (const auto& [pod, er] : eps) {
        bool fc = fail_closed.count(pod) > 0;
        if (er.has_chain(BF_DIR_EGRESS) || fc)
          push_from_pod(fwd, jump_to(names.endpoint_chain(BF_DIR_EGRESS, er.endpoint_id), pod), er.ifname);
        if (!er.has_chain(BF_DIR_INGRESS) && !fc) continue;
        Rule jump = jump_to(names.endpoint_chain(BF_DIR_INGRESS, er.endpoint_id), pod);
        Rule routed = jump;
        routed.out_iface = er.ifname;
        fwd.push_back(std::move(routed));
        for (const IpAddress& ip : er.ips) {
          if (ip.is_v4() != (f == Family::V4)) continue;
          Rule bridged = jump;
          bridged.dst = ip;
          bridged.not_out_iface = er.ifname;
          fwd.push_back(std::move(bridged));
        }
      }
      set_chain(f, names.source_dispatch_chain(), src);
      set_chain(f, names.forward_chain(), fwd);
      // LOCAL only while a pod needs it: no chain, no INPUT jump.
      if (local.empty()) {
        if (model.chains(f).erase(names.local_dispatch_chain())) changes.chains.insert(names.local_dispatch_chain());
      } else {
        set_chain(f, names.local_dispatch_chain(), local);
      }
    }
  }

  // A dispatch chain rewritten only when it changed.
  void set_chain(Family f, const std::string& name, const Chain& chain) {
    auto it = model.chains(f).find(name);
    if (it != model.chains(f).end() && it->second == chain) return;
    model.chains(f)[name] = chain;
    changes.chains.insert(name);
  }

  // LOCAL, from INPUT: what a pod sends to its own node meets the pod's
  // egress chain when a ClusterNetworkPolicy stage decides that egress (an
  // Admin Deny on a network covering the node). Established flows return at
  // once: the egress chain would ACCEPT them, which from INPUT would skip the
  // host's own INPUT rules, and they are replies to the node's connections
  // or flows already decided (a change that denies one deletes its conntrack
  // entry). The rest of the chain drops or returns; an isolated pod's node
  // exemption comes after its Admin stage, as in FORWARD.
  Chain local_dispatch() const {
    Chain local;
    for (const auto& [pod, er] : eps) {
      if (er.stages[BF_DIR_EGRESS][BF_TIER_ADMIN].empty() && er.stages[BF_DIR_EGRESS][BF_TIER_BASELINE].empty())
        continue;
      if (local.empty()) local.push_back(ct_rule(Rule::Ct::EstablishedRelated, Rule::Target::Return));
      push_from_pod(local, jump_to(names.endpoint_chain(BF_DIR_EGRESS, er.endpoint_id), pod), er.ifname);
    }
    return local;
  }

  Rule jump_to(const std::string& chain, const std::string& comment) const {
    Rule r = target_rule(Rule::Target::Jump);
    r.jump = chain;
    r.comment = comment;
    return r;
  }

  // What comes from a pod: in by its veth (routed), or by its bridge port
  // (bridge CNIs with br_netfilter).
  static void push_from_pod(Chain& chain, Rule jump, const std::string& ifname) {
    Rule bridged = jump;
    jump.in_iface = ifname;
    bridged.physdev_in = ifname;
    chain.push_back(std::move(jump));
    chain.push_back(std::move(bridged));
  }

  Status bind_pod(const DesiredState& s, const std::string& pod, const std::map<std::string, std::string>& ifnames) {
    auto ifn = ifnames.find(pod);
    auto es = s.endpoints.find(pod);
    if (ifn == ifnames.end() || es == s.endpoints.end()) {
      replace(pod, std::nullopt);  // unbound, or not (yet) in the state
      return Status::ok();
    }
    if (!valid_ifname(ifn->second))
      return Status::error("endpoint " + pod + ": interface name \"" + ifn->second + "\" is not usable in iptables");
    replace(pod, compute(s, es->second, ifn->second));
    return Status::ok();
  }

  Status finish() {
    if (!error.is_ok()) {
      consistent = false;
      return error;
    }
    consistent = true;
    return Status::ok();
  }
};

Renderer::Renderer(Names names, bool ipv6) : impl_(std::make_unique<Impl>()) {
  impl_->names = std::move(names);
  impl_->ipv6 = ipv6;
}
Renderer::~Renderer() = default;
Renderer::Renderer(Renderer&&) noexcept = default;
Renderer& Renderer::operator=(Renderer&&) noexcept = default;

bool Renderer::consistent() const { return impl_->consistent; }
const Model& Renderer::model() const { return impl_->model; }

Changes Renderer::take_changes() {
  Changes c = std::move(impl_->changes);
  impl_->changes = {};
  return c;
}

Status Renderer::render_all(const DesiredState& s, const std::map<std::string, std::string>& ifnames,
                            const std::set<std::string>& fail_closed) {
  Impl& d = *impl_;
  d.reset();
  d.consistent = false;
  d.fail_closed = fail_closed;
  std::set<uint32_t> affected;
  bool host = false;
  for (const auto& [ip, id] : s.pod_addrs) d.index_addr(ip, id, affected, host);
  for (const auto& [p, id] : s.cidrs) {
    d.prefix_ids[p] = id;
    d.id_prefixes[id].insert(p);
  }
  for (const auto& [k, rule] : s.policy) d.ep_keys[k.k.endpoint_id].policy[k.k.direction & 1].insert(k);
  for (const auto& [k, rule] : s.ranges) d.ep_keys[k.k.endpoint_id].ranges[k.k.direction & 1].insert(k);
  for (const auto& [k, e] : s.cluster) d.ep_keys[k.k.endpoint_id].cluster[k.k.direction & 1][k] = e;
  for (const auto& [pod, ifname] : ifnames)
    if (Status st = d.bind_pod(s, pod, ifnames); !st) return st;
  d.refresh_host();
  d.write_forward();
  return d.finish();
}

Status Renderer::render_changes(const DesiredState& s, const StateDiff& diff,
                                const std::map<std::string, std::string>& ifnames,
                                const std::set<std::string>& fail_closed, const std::set<std::string>& pods) {
  Impl& d = *impl_;
  if (!d.consistent) return render_all(s, ifnames, fail_closed);
  d.consistent = false;
  d.fail_closed = fail_closed;

  std::set<uint32_t> affected;
  bool host = false;
  for (const auto& [ip, id] : diff.pod_addrs.upsert) d.index_addr(ip, id, affected, host);
  for (const IpAddress& ip : diff.pod_addrs.erase) d.index_addr(ip, std::nullopt, affected, host);
  for (const auto& [p, id] : diff.cidrs.upsert) d.index_prefix(p, id, affected);
  for (const Prefix& p : diff.cidrs.erase) d.index_prefix(p, std::nullopt, affected);

  // Endpoints whose chains may differ: a chain depends on the endpoint, its
  // policy entries and its binding only (who is in a peer set is the set's
  // business), so diff.touched_endpoints, which also names endpoints whose
  // cached BPF flows an address change may affect, is not needed here.
  std::set<std::string> redo = pods;
  for (const auto& [pod, es] : diff.endpoints.upsert) redo.insert(pod);
  redo.insert(diff.endpoints.erase.begin(), diff.endpoints.erase.end());
  std::set<uint32_t> ep_ids;
  for (const auto& [k, rule] : diff.policy.upsert) {
    ep_ids.insert(k.k.endpoint_id);
    d.ep_keys[k.k.endpoint_id].policy[k.k.direction & 1].insert(k);
  }
  for (const auto& k : diff.policy.erase) {
    ep_ids.insert(k.k.endpoint_id);
    d.drop_key(k);
  }
  for (const auto& [k, rule] : diff.ranges.upsert) {
    ep_ids.insert(k.k.endpoint_id);
    d.ep_keys[k.k.endpoint_id].ranges[k.k.direction & 1].insert(k);
  }
  for (const auto& k : diff.ranges.erase) {
    ep_ids.insert(k.k.endpoint_id);
    d.drop_key(k);
  }
  for (const auto& [k, e] : diff.cluster.upsert) {
    ep_ids.insert(k.k.endpoint_id);
    d.ep_keys[k.k.endpoint_id].cluster[k.k.direction & 1][k] = e;
  }
  for (const auto& k : diff.cluster.erase) {
    ep_ids.insert(k.k.endpoint_id);
    d.drop_key(k);
  }
  // A renamed rule changes the comments of the chains naming it.
  if (!diff.cluster_rules.empty()) {
    std::set<uint32_t> renamed(diff.cluster_rules.erase.begin(), diff.cluster_rules.erase.end());
    for (const auto& [id, ref] : diff.cluster_rules.upsert) renamed.insert(id);
    for (const auto& [pod, er] : d.eps)
      for (const auto& [id, name] : er.rule_names)
        if (renamed.count(id)) redo.insert(pod);
  }
  if (!ep_ids.empty())
    for (const auto& [pod, er] : d.eps)
      if (ep_ids.count(er.endpoint_id)) redo.insert(pod);

  for (const std::string& pod : redo)
    if (Status st = d.bind_pod(s, pod, ifnames); !st) return st;

  // Sets whose members' addresses or prefixes changed.
  std::set<const PeerSet*> stale;
  for (uint32_t id : affected)
    if (auto it = d.sets_by_id.find(id); it != d.sets_by_id.end()) stale.insert(it->second.begin(), it->second.end());
  for (const PeerSet* ids : stale) d.refresh_set(*ids);
  if (host) d.refresh_host();
  d.write_forward();
  return d.finish();
}

void Renderer::remove_pod(const std::string& pod) {
  impl_->replace(pod, std::nullopt);
  impl_->write_forward();
}

void Renderer::set_fail_closed(const std::string& pod, bool fail_closed) {
  Impl& d = *impl_;
  if (fail_closed)
    d.fail_closed.insert(pod);
  else
    d.fail_closed.erase(pod);
  auto it = d.eps.find(pod);
  if (it == d.eps.end()) return;
  d.erase_chains(it->second);
  d.write_chains(it->second, fail_closed);
  d.write_forward();
}

uint64_t identities_hash(const std::vector<uint32_t>& sorted_ids) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t id : sorted_ids)
    for (int i = 0; i < 4; ++i) {
      h ^= (id >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  return h & 0xffffffffffffull;
}

std::string Names::peer_set(uint64_t hash48, Family f) const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(hash48 & 0xffffffffffffull));
  return set_prefix() + buf + "-" + suffix(f);
}

bool valid_ifname(const std::string& name) {
  if (name.empty() || name.size() > 15) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' || c == '-')) return false;
  return true;
}

Status render(const RenderInput& in, Model* out) {
  if (!in.state) return Status::error("iptables render: no desired state");
  Renderer r(in.names, in.ipv6);
  if (Status st = r.render_all(*in.state, in.ifnames, in.fail_closed); !st) return st;
  *out = r.model();
  return Status::ok();
}

}  // namespace bpfence::ipt
