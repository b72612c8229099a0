// Reading the flow view from the agent's API (see cli_agent_flows.h).
#include "cli_agent_flows.h"

#include <arpa/inet.h>

#include <algorithm>

#include "bpfence/reasons.h"

namespace bpfence::cli {
namespace {

Status put_ip(const nlohmann::json& j, const char* field, __u8 (&out)[16]) {
  auto ip = j.contains(field) && j[field].is_string() ? IpAddress::parse(j[field].get<std::string>()) : std::nullopt;
  if (!ip) return Status::error(std::string("flow: field ") + field + ": not an IP address");
  std::copy(ip->bytes.begin(), ip->bytes.end(), out);
  return Status::ok();
}

template <class T>
T num(const nlohmann::json& j, const char* field) {
  return j.contains(field) && j[field].is_number() ? j[field].get<T>() : T{};
}

}  // namespace

Status flow_from_json(const nlohmann::json& j, FlowRecord* out) {
  FlowRecord f{};
  if (Status s = put_ip(j, "src", f.key.src); !s) return s;
  if (Status s = put_ip(j, "dst", f.key.dst); !s) return s;
  f.key.sport = htons(num<uint16_t>(j, "sport"));
  f.key.dport = htons(num<uint16_t>(j, "dport"));
  auto proto = parse_ip_proto(j.value("proto", std::string()));
  if (!proto) return Status::error("flow: field proto: unknown protocol");
  f.key.proto = *proto;
  f.key.direction = j.value("direction", std::string()) == "egress" ? BF_DIR_EGRESS : BF_DIR_INGRESS;
  f.key.endpoint_id = num<uint32_t>(j, "endpoint_id");
  bf_flow_value& v = f.value;
  v.ifindex = num<uint32_t>(j, "ifindex");
  v.action = j.value("action", std::string()) == bf_action_name(BF_ACT_DROP) ? BF_ACT_DROP : BF_ACT_FORWARD;
  auto reason = bf_reason_from_name(j.value("reason", std::string()));
  v.reason = reason ? *reason : 0;
  v.rule_id = num<uint32_t>(j, "rule_id");
  v.packets = num<uint64_t>(j, "packets");
  v.bytes = num<uint64_t>(j, "bytes");
  v.generation = num<uint32_t>(j, "generation");
  v.first_seen_ns = num<uint64_t>(j, "first_seen_ns");
  v.last_seen_ns = num<uint64_t>(j, "last_seen_ns");
  if (j.value("reply", false)) v.flags |= BF_FLOW_REPLY;
  *out = f;
  return Status::ok();
}

Status agent_flow_snapshot(const AgentClient& agent, const std::string& location, FlowSnapshot* out) {
  nlohmann::json flows, endpoints;
  if (Status s = agent.get("/v1/flows?limit=1000000", &flows); !s) return s;
  if (!flows.contains("flows") || !flows["flows"].is_array())
    return Status::error("agent " + agent.address() + "/v1/flows: no \"flows\" list");
  FlowSnapshot snap;
  snap.pin_dir = location;
  snap.now_ns = num<uint64_t>(flows, "now_ns");
  for (const auto& j : flows["flows"]) {
    FlowRecord f;
    if (Status s = flow_from_json(j, &f); !s) return Status::error("agent " + agent.address() + "/v1/flows: " + s.message());
    snap.flows.push_back(f);
  }
  // The endpoints name each flow's ENDPOINT column (by its addresses).
  if (agent.get("/v1/endpoints", &endpoints) && endpoints.contains("endpoints") && endpoints["endpoints"].is_array()) {
    for (const auto& e : endpoints["endpoints"]) {
      EndpointRecord r{};
      r.ifindex = num<uint32_t>(e, "ifindex");
      r.endpoint.endpoint_id = num<uint32_t>(e, "endpoint_id");
      r.endpoint.identity = num<uint32_t>(e, "identity");
      if (e.contains("isolation") && e["isolation"].is_object()) {
        r.endpoint.ingress_isolated = e["isolation"].value("ingress", false);
        r.endpoint.egress_isolated = e["isolation"].value("egress", false);
      }
      if (e.contains("ips") && e["ips"].is_array())
        for (const auto& t : e["ips"]) {
          auto ip = t.is_string() ? IpAddress::parse(t.get<std::string>()) : std::nullopt;
          if (!ip) continue;
          auto& slot = ip->is_v4() ? r.endpoint.ip4 : r.endpoint.ip6;
          std::copy(ip->bytes.begin(), ip->bytes.end(), slot);
        }
      snap.endpoints.push_back(r);
    }
  }
  // No table size is served: the entries shown stand for it. No
  // generations either: endpoints and flows are both at 0 (never stale).
  snap.table_size = static_cast<uint32_t>(snap.flows.size());
  *out = std::move(snap);
  return Status::ok();
}

}  // namespace bpfence::cli
