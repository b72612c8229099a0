// The flow table view of `bpfence flow`: indexes, pairing, filtering and
// rendering (table and JSON), and the lines of `flow --follow`.
#include "cli_flows.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "bpfence/reasons.h"
#include "cli_table.h"
#include "tc_attachment.h"

namespace bpfence::cli {
namespace {

std::string key_bytes(const bf_flow_key& k) {
  bf_flow_key c = k;
  c.pad = 0;  // never part of a flow's identity
  return std::string(reinterpret_cast<const char*>(&c), sizeof c);
}

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char b : bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

const bf_endpoint* endpoint_by_id(const FlowSnapshot& snap, uint32_t endpoint_id, uint32_t* ifindex = nullptr) {
  for (const auto& e : snap.endpoints)
    if (e.endpoint.endpoint_id == endpoint_id) {
      if (ifindex) *ifindex = e.ifindex;
      return &e.endpoint;
    }
  return nullptr;
}


std::string age_since(uint64_t now_ns, uint64_t then_ns) { return age_text(now_ns > then_ns ? now_ns - then_ns : 0); }

// Forwarded flows that needed no rule say why, in words.
std::string forward_reason_text(uint8_t reason) {
  switch (reason) {
    case BF_R_NOT_ISOLATED: return "(not isolated)";
    case BF_R_HOST: return "(node traffic)";
    case BF_R_SELF: return "(to itself)";
    case BF_R_UNKNOWN_EP: return "(no endpoint)";
    default: return std::string("(") + bf_reason_name(reason) + ")";
  }
}

const std::vector<std::string>* isolating(const PodInfo* pod, uint8_t direction) {
  if (!pod || !pod->isolation_known) return nullptr;
  return direction == BF_DIR_INGRESS ? &pod->ingress_policies : &pod->egress_policies;
}

std::string isolated_by(const bf_endpoint* ep, uint8_t direction, const Names& names) {
  const auto* pols = isolating(ep ? names.endpoint_pod(*ep) : nullptr, direction);
  if (!pols || pols->empty()) return "-";
  return "isolated by " + join(*pols);
}

std::string wall_time_text(uint64_t wall_ns) {
  time_t secs = static_cast<time_t>(wall_ns / 1000000000ull);
  struct tm tm {};
  localtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(wall_ns % 1000000000ull / 1000));
  return buf;
}

}  // namespace

Status read_flow_snapshot(const std::string& pin_dir, FlowSnapshot* out) {
  PinnedMaps maps;
  if (Status s = maps.open(pin_dir); !s) return s;
  out->pin_dir = pin_dir;
  if (Status s = maps.flows(&out->flows); !s) return s;
  if (Status s = maps.endpoints(&out->endpoints); !s) return s;
  if (Status s = maps.counters(&out->counters); !s) return s;
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(maps.flows_fd(), &info, &len) == 0) out->table_size = info.max_entries;
  out->now_ns = monotonic_now_ns();
  return Status::ok();
}

std::vector<uint32_t> flow_indexes(const std::vector<FlowRecord>& flows, uint32_t table_size) {
  std::vector<uint32_t> out(flows.size(), 0);
  uint32_t size = std::max<uint32_t>(table_size, static_cast<uint32_t>(flows.size()));
  if (size == 0) return out;
  std::vector<std::pair<std::string, size_t>> order;
  order.reserve(flows.size());
  for (size_t i = 0; i < flows.size(); ++i) order.emplace_back(key_bytes(flows[i].key), i);
  std::sort(order.begin(), order.end());
  std::set<uint32_t> used;
  for (const auto& [bytes, i] : order) {
    uint32_t slot = static_cast<uint32_t>(fnv1a(bytes) % size);
    while (used.count(slot)) slot = (slot + 1) % size;
    used.insert(slot);
    out[i] = slot;
  }
  return out;
}

std::vector<FlowRow> flow_rows(const FlowSnapshot& snap, const FlowFilter& filter) {
  std::vector<uint32_t> idx = flow_indexes(snap.flows, snap.table_size);
  std::map<std::string, size_t> by_key;
  for (size_t i = 0; i < snap.flows.size(); ++i) by_key[key_bytes(snap.flows[i].key)] = i;

  auto passes = [&](const FlowRecord& f) {
    if (!filter.match.matches(f.key, f.value)) return false;
    if (filter.pod_ips.empty()) return true;
    auto is_pod = [&](const IpAddress& ip) {
      return std::find(filter.pod_ips.begin(), filter.pod_ips.end(), ip) != filter.pod_ips.end();
    };
    if (is_pod(address_of(f.key.src)) || is_pod(address_of(f.key.dst))) return true;
    const bf_endpoint* ep = endpoint_by_id(snap, f.key.endpoint_id);
    if (!ep) return false;
    for (const auto& ip : endpoint_ips(*ep))
      if (is_pod(ip)) return true;
    return false;
  };

  // A pair is listed under its original flow's index; a reply entry whose
  // original is gone stands alone.
  struct Item {
    uint32_t group, order;
    FlowRow row;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < snap.flows.size(); ++i) {
    const FlowRecord& f = snap.flows[i];
    if (!passes(f)) continue;
    FlowRow row{&f, idx[i], std::nullopt};
    std::optional<size_t> rev;
    if (auto it = by_key.find(key_bytes(f.value.reverse)); it != by_key.end() && it->second != i) rev = it->second;
    if (rev) row.reverse_index = idx[*rev];
    bool reply = f.value.flags & BF_FLOW_REPLY;
    uint32_t group = idx[i];
    if (rev && reply && !(snap.flows[*rev].value.flags & BF_FLOW_REPLY)) group = idx[*rev];
    items.push_back({group, group == idx[i] ? 0u : 1u, row});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return std::tie(a.group, a.order, a.row.index) < std::tie(b.group, b.order, b.row.index);
  });
  std::vector<FlowRow> rows;
  rows.reserve(items.size());
  for (const auto& it : items) rows.push_back(it.row);
  return rows;
}

std::string endpoint_ifname(uint32_t ifindex) {
  // An index names an interface of this network namespace only: the lab's
  // nodes are namespaces, and index 5 there is some other link here. Only
  // an interface that carries bpfence's filter is the endpoint's.
  char name[IF_NAMESIZE] = {};
  // A miss is an answer here, not an error for libbpf to print.
  libbpf_print_fn_t old = libbpf_set_print(nullptr);
  uint32_t prog = tc_attached_prog_id(static_cast<int>(ifindex), BPF_TC_INGRESS);
  libbpf_set_print(old);
  if (prog == 0 || !if_indextoname(ifindex, name)) return "";
  return name;
}

bool flow_stale(const FlowSnapshot& snap, const FlowRecord& f) {
  const bf_endpoint* ep = endpoint_by_id(snap, f.key.endpoint_id);
  return ep && ep->generation != f.value.generation;
}

std::string flow_address_text(const IpAddress& ip, uint16_t port, uint8_t proto, const Names& names) {
  std::string addr = ip.str();
  std::string out = ip_proto_has_ports(proto) ? (ip.is_v4() ? addr : "[" + addr + "]") + ":" + std::to_string(port) : addr;
  if (auto pod = names.pod_at(ip); !pod.empty()) out += " (" + pod + ")";
  return out;
}

std::string flow_endpoint_text(uint32_t endpoint_id, const FlowSnapshot& snap, const Names& names) {
  uint32_t ifindex = 0;
  const bf_endpoint* ep = endpoint_by_id(snap, endpoint_id, &ifindex);
  if (ep)
    if (const PodInfo* pod = names.endpoint_pod(*ep)) return pod->pod;
  std::string out = "ep" + std::to_string(endpoint_id);
  if (std::string ifname = ep ? endpoint_ifname(ifindex) : ""; !ifname.empty()) out += " (" + ifname + ")";
  return out;
}

std::string flow_rule_text(const bf_flow_key& key, const bf_flow_value& v, const bf_endpoint* ep,
                           const Names& names) {
  if (v.action == BF_ACT_DROP) {
    if (v.reason == BF_R_FW_POLICY) return isolated_by(ep, key.direction, names);
    if (bf_reason_is_cluster(v.reason)) return v.rule_id ? names.rule_text(v.rule_id) : "-";
    return "-";
  }
  if (v.reason == BF_R_POLICY || bf_reason_is_cluster(v.reason))
    return v.rule_id ? names.rule_text(v.rule_id) : "-";
  if (v.reason == BF_R_REPLY) return v.rule_id ? "reply to " + names.rule_text(v.rule_id) : "reply";
  return forward_reason_text(v.reason);
}

void print_flow_table(std::ostream& out, const FlowSnapshot& snap, const std::vector<FlowRow>& rows,
                      const Names& names) {
  uint64_t fwd = 0, drop = 0;
  std::vector<std::string> fwd_reasons, drop_reasons;
  for (const auto& c : snap.counters) {
    std::string item = std::string(bf_reason_name(c.reason)) + " " + std::to_string(c.packets);
    if (c.action == BF_ACT_DROP) {
      drop += c.packets;
      drop_reasons.push_back(item);
    } else {
      fwd += c.packets;
      fwd_reasons.push_back(item);
    }
  }
  out << "Flow table " << snap.pin_dir << ": " << snap.flows.size() << " entries of " << snap.table_size
      << ", showing " << rows.size() << "\n";
  out << "Packets: forwarded " << fwd << (fwd_reasons.empty() ? "" : " (" + join(fwd_reasons) + ")")
      << ", dropped " << drop << (drop_reasons.empty() ? "" : " (" + join(drop_reasons) + ")") << "\n";
  out << "Action: F=Forward, D(reason)=Drop, *=decided before the last policy change (re-decided on its next "
         "packet)\nTCP flags seen: F=FIN S=SYN R=RST P=PSH A=ACK U=URG; names: "
      << (names.source.empty() ? "none (agent down; try --manifests DIR)" : names.source) << "\n\n";
  if (rows.empty()) {
    out << "no flows" << (snap.flows.empty() ? "" : " match") << "\n";
    return;
  }
  Table t({"INDEX", "SOURCE", "DESTINATION", "PROTO", "ENDPOINT", "DIR", "ACTION", "RULE", "TCP", "PKTS/BYTES",
           "FIRST", "LAST"});
  for (const auto& r : rows) {
    const bf_flow_key& k = r.flow->key;
    const bf_flow_value& v = r.flow->value;
    std::string index = std::to_string(r.index);
    if (r.reverse_index) index += "<=>" + std::to_string(*r.reverse_index);
    t.add({index, flow_address_text(address_of(k.src), ntohs(k.sport), k.proto, names),
           flow_address_text(address_of(k.dst), ntohs(k.dport), k.proto, names), ip_proto_name(k.proto),
           flow_endpoint_text(k.endpoint_id, snap, names), bf_direction_name(k.direction),
           bf_verdict_short(v.action, v.reason) + (flow_stale(snap, *r.flow) ? "*" : ""),
           flow_rule_text(k, v, endpoint_by_id(snap, k.endpoint_id), names),
           k.proto == 6 && v.tcp_flags ? tcp_flags_text(v.tcp_flags) : "-",
           count_text(v.packets) + "/" + count_text(v.bytes), age_since(snap.now_ns, v.first_seen_ns),
           age_since(snap.now_ns, v.last_seen_ns)});
  }
  t.print(out);
}

nlohmann::json flow_table_json(const FlowSnapshot& snap, const std::vector<FlowRow>& rows, const Names& names) {
  nlohmann::json j;
  j["pin_dir"] = snap.pin_dir;
  j["table_size"] = snap.table_size;
  j["entries"] = snap.flows.size();
  j["names"] = names.source;
  nlohmann::json fwd = nlohmann::json::object(), drop = nlohmann::json::object();
  for (const auto& c : snap.counters)
    (c.action == BF_ACT_DROP ? drop : fwd)[bf_reason_name(c.reason)] = {{"packets", c.packets}, {"bytes", c.bytes}};
  j["forwarded"] = fwd;
  j["dropped"] = drop;
  FlowNames fn;
  fn.pod = [&](uint32_t endpoint_id) -> std::string {
    const bf_endpoint* ep = endpoint_by_id(snap, endpoint_id);
    const PodInfo* p = ep ? names.endpoint_pod(*ep) : nullptr;
    return p ? p->pod : "";
  };
  fn.rule = [&](uint32_t id) {
    std::string text = names.rule_text(id);
    return text.starts_with("#") ? std::string() : text;
  };
  j["flows"] = nlohmann::json::array();
  for (const auto& r : rows) {
    const bf_flow_key& k = r.flow->key;
    const bf_flow_value& v = r.flow->value;
    nlohmann::json f = flow_to_json(*r.flow, fn);
    f["index"] = r.index;
    f["reverse_index"] = r.reverse_index ? nlohmann::json(*r.reverse_index) : nlohmann::json(nullptr);
    f["src_pod"] = names.pod_at(address_of(k.src));
    f["dst_pod"] = names.pod_at(address_of(k.dst));
    f["endpoint"] = flow_endpoint_text(k.endpoint_id, snap, names);
    const bf_endpoint* ep = endpoint_by_id(snap, k.endpoint_id);
    const auto* pols = isolating(ep ? names.endpoint_pod(*ep) : nullptr, k.direction);
    f["isolating"] = pols ? nlohmann::json(*pols) : nlohmann::json(nullptr);
    f["rule_text"] = flow_rule_text(k, v, ep, names);
    f["stale"] = flow_stale(snap, *r.flow);
    f["first_seen_ago_s"] = static_cast<double>(snap.now_ns - std::min<uint64_t>(snap.now_ns, v.first_seen_ns)) / 1e9;
    f["last_seen_ago_s"] = static_cast<double>(snap.now_ns - std::min<uint64_t>(snap.now_ns, v.last_seen_ns)) / 1e9;
    j["flows"].push_back(std::move(f));
  }
  return j;
}

std::string event_line(const bf_event& ev, uint64_t wall_ns, const FlowSnapshot& snap, const Names& names) {
  const bf_flow_key& k = ev.key;
  const bf_endpoint* ep = endpoint_by_id(snap, k.endpoint_id);
  std::string line = wall_time_text(wall_ns) + (ev.type == BF_EV_DROP ? " DROP " : " NEW  ") +
                     bf_verdict_short(ev.action, ev.reason) + " " +
                     flow_address_text(address_of(k.src), ntohs(k.sport), k.proto, names) + " -> " +
                     flow_address_text(address_of(k.dst), ntohs(k.dport), k.proto, names) + " " +
                     ip_proto_name(k.proto) + " at " + flow_endpoint_text(k.endpoint_id, snap, names) + " " +
                     bf_direction_name(k.direction);
  bf_flow_value v{};
  v.action = ev.action;
  v.reason = ev.reason;
  v.rule_id = ev.rule_id;
  std::string rule = flow_rule_text(k, v, ep, names);
  if (rule != "-") line += ": " + rule;
  return line;
}

nlohmann::json event_json(const bf_event& ev, uint64_t wall_ns, const FlowSnapshot& snap, const Names& names) {
  const bf_flow_key& k = ev.key;
  const bf_endpoint* ep = endpoint_by_id(snap, k.endpoint_id);
  bf_flow_value v{};
  v.action = ev.action;
  v.reason = ev.reason;
  v.rule_id = ev.rule_id;
  nlohmann::json j;
  j["type"] = ev.type == BF_EV_DROP ? "drop" : "new_flow";
  j["time_ns"] = wall_ns;
  j["ts_ns"] = ev.ts_ns;
  j["src"] = address_of(k.src).str();
  j["sport"] = ntohs(k.sport);
  j["dst"] = address_of(k.dst).str();
  j["dport"] = ntohs(k.dport);
  j["src_pod"] = names.pod_at(address_of(k.src));
  j["dst_pod"] = names.pod_at(address_of(k.dst));
  j["proto"] = ip_proto_name(k.proto);
  j["direction"] = bf_direction_name(k.direction);
  j["endpoint_id"] = k.endpoint_id;
  j["endpoint"] = flow_endpoint_text(k.endpoint_id, snap, names);
  j["ifindex"] = ev.ifindex;
  j["action"] = bf_action_name(ev.action);
  j["reason"] = bf_reason_name(ev.reason);
  j["verdict"] = bf_verdict_short(ev.action, ev.reason);
  j["rule_id"] = ev.rule_id;
  j["rule_text"] = flow_rule_text(k, v, ep, names);
  return j;
}

}  // namespace bpfence::cli
