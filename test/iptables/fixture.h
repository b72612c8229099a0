// Helpers for the iptables dataplane's unit tests: render a compiled test
// cluster with every local pod bound to its own "v-..." interface, print a chain as
// restore lines, and walk a probe through the rendered chains.
#pragma once

#include <cstdio>
#include <functional>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "render.h"
#include "restore.h"
#include "support/iptables_simulate.h"
#include "unit/cluster.h"

namespace bpfence::test {

inline ipt::Names test_names() { return ipt::Names{"t1"}; }

// Host-side interface of a pod in these tests, one per pod: "v-" + name in
// namespace default, "v-" + namespace + "-" + name elsewhere, a hash of the
// pod's key where that does not fit in 15 characters.
inline std::string ifname_of(const std::string& pod) {
  const size_t slash = pod.find('/');
  const std::string ns = pod.substr(0, slash), name = pod.substr(slash + 1);
  std::string ifname = ns == "default" ? "v-" + name : "v-" + ns + "-" + name;
  if (ifname.size() <= 15) return ifname;
  char hashed[16];
  std::snprintf(hashed, sizeof hashed, "v-%013zx", static_cast<size_t>(std::hash<std::string>{}(pod) & 0xfffffffffffffULL));
  return hashed;
}

inline std::map<std::string, std::string> bind_all(const DesiredState& s) {
  std::map<std::string, std::string> out;
  for (const auto& [pod, es] : s.endpoints) out[pod] = ifname_of(pod);
  return out;
}

inline ipt::Model render_model(const DesiredState& s, std::set<std::string> fail_closed = {}) {
  ipt::RenderInput in;
  in.state = &s;
  in.names = test_names();
  in.ifnames = bind_all(s);
  in.fail_closed = std::move(fail_closed);
  ipt::Model m;
  Status st = ipt::render(in, &m);
  INFO(st.message());
  REQUIRE(st.is_ok());
  return m;
}

// A chain as the lines iptables-restore gets, without "-A <chain> ".
inline std::vector<std::string> lines(const ipt::Model& m, const std::string& chain,
                                      ipt::Family f = ipt::Family::V4) {
  std::vector<std::string> out;
  auto it = m.chains(f).find(chain);
  if (it == m.chains(f).end()) return out;
  for (const auto& r : it->second) out.push_back(ipt::rule_spec(r, f));
  return out;
}

inline std::string chain_of(const Compiler& c, const std::string& pod, bf_direction dir) {
  return test_names().endpoint_chain(dir, c.state().endpoints.at(pod).endpoint_id);
}

inline uint32_t identity_of(const Compiler& c, const std::string& who) {
  return c.state().pod_addrs.at(address_of(c, who));
}

inline uint32_t cidr_identity(const Compiler& c, const std::string& prefix) {
  return c.state().cidrs.at(*Prefix::parse(prefix));
}

inline std::string set_of(std::vector<uint32_t> ids, ipt::Family f = ipt::Family::V4) {
  std::sort(ids.begin(), ids.end());
  return test_names().peer_set(ipt::identities_hash(ids), f);
}

// A set's entries as ipset prints them, sorted.
inline std::vector<std::string> entries(const ipt::Model& m, const std::string& set) {
  std::vector<std::string> out;
  auto it = m.sets.find(set);
  if (it == m.sets.end()) return {"<no set " + set + ">"};
  for (const auto& [p, nomatch] : it->second.entries) out.push_back(ipt::ipset_entry(p, nomatch));
  std::sort(out.begin(), out.end());
  return out;
}

// Walks a new connection from `from` to `to` through the FORWARD chain as
// the node with every local pod sees it: a pod's packets come in on its
// host veth, an address that is no local pod comes in on "uplink".
inline ipt::SimVerdict walk(const ipt::Model& m, const Compiler& c, const std::string& from, const std::string& to,
                            uint8_t proto, uint16_t port, ipt::SimPacket::Ct ct = ipt::SimPacket::Ct::New) {
  ipt::SimPacket p;
  p.src = address_of(c, from);
  p.dst = address_of(c, to);
  p.proto = proto;
  p.dport = port;
  p.ct = ct;
  auto iface = [&](const IpAddress& ip) -> std::string {
    for (const auto& [pod, es] : c.state().endpoints)
      for (const auto& a : es.ips)
        if (a == ip) return ifname_of(pod);
    return "uplink";
  };
  p.in_iface = iface(p.src);
  p.out_iface = iface(p.dst);
  std::string error;
  auto v = ipt::simulate_forward(m, test_names(), p.src.is_v4() ? ipt::Family::V4 : ipt::Family::V6, p, &error);
  INFO(error);
  CHECK(error.empty());
  return v;
}

// Equal models, or the first difference in the failure message.
inline void check_same(const ipt::Model& got, const ipt::Model& want) {
  for (const auto& [name, set] : want.sets) {
    INFO("set " << name);
    REQUIRE(got.sets.count(name));
    CHECK(got.sets.at(name) == set);
  }
  CHECK(got.sets.size() == want.sets.size());
  for (auto f : {ipt::Family::V4, ipt::Family::V6}) {
    for (const auto& [name, chain] : want.chains(f)) {
      INFO("chain " << name);
      REQUIRE(got.chains(f).count(name));
      CHECK(got.chains(f).at(name) == chain);
    }
    CHECK(got.chains(f).size() == want.chains(f).size());
  }
  CHECK(got.set_identities == want.set_identities);
}

inline bool walk_allows(const ipt::Model& m, const Compiler& c, const std::string& from, const std::string& to,
                        uint8_t proto, uint16_t port) {
  return walk(m, c, from, to, proto, port) != ipt::SimVerdict::Drop;
}

}  // namespace bpfence::test
