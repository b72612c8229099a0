// Reading and writing a lab's state file (see lab_state.h).
#include "lab_state.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "manifests.h"

namespace bpfence::lab {

using json = nlohmann::json;

Status save_state(const LabState& s) {
  json nodes = json::array(), hosts = json::array(), procs = json::array();
  for (const auto& n : s.topology.nodes) nodes.push_back({{"name", n.name}, {"netns", n.netns}, {"ip", n.ip}});
  for (const auto& h : s.topology.hosts)
    hosts.push_back({{"name", h.name},
                     {"netns", h.netns},
                     {"ip", h.ip},
                     {"external", h.external},
                     {"node", h.node},
                     {"host_if", h.host_if}});
  for (const auto& p : s.processes)
    procs.push_back({{"pid", p.id.pid}, {"start_time", p.id.start_time}, {"role", p.role}, {"log", p.log}});
  json j = {{"name", s.name},
            {"scenario", s.scenario_path},
            {"policy_dirs", s.policy_dirs},
            {"placement", s.placement},
            {"dataplane", s.dataplane},
            {"owner", {{"pid", s.owner.pid}, {"start_time", s.owner.start_time}}},
            {"topology",
             {{"cni", cni_name(s.topology.cni)},
              {"prefix", s.topology.prefix},
              {"underlay", s.topology.underlay},
              {"nodes", nodes},
              {"hosts", hosts}}},
            {"processes", procs},
            {"bpffs_dir", s.bpffs_dir},
            {"manifests_dir", s.manifests_dir},
            {"agent_listen", s.agent_listen},
            {"steps_applied", s.steps_applied}};
  return write_file_atomic(s.state_file(), j.dump(2) + "\n");
}

Status load_state(const std::string& dir, LabState& s) {
  std::ifstream in(dir + "/state.json");
  if (!in) return Status::error("lab state " + dir + "/state.json: cannot read");
  std::stringstream text;
  text << in.rdbuf();
  try {
    auto j = json::parse(text.str());
    s = {};
    s.dir = dir;
    s.name = j.at("name");
    s.scenario_path = j.at("scenario");
    s.policy_dirs = j.at("policy_dirs").get<std::vector<std::string>>();
    s.placement = j.at("placement");
    s.dataplane = j.at("dataplane");
    s.owner = {j.at("owner").at("pid").get<pid_t>(), j.at("owner").at("start_time").get<uint64_t>()};
    const auto& t = j.at("topology");
    // Labs saved before the bridge layout existed are routed.
    s.topology.cni = parse_cni(t.value("cni", "routed")).value_or(Cni::Routed);
    s.topology.prefix = t.at("prefix");
    s.topology.underlay = t.at("underlay");
    for (const auto& n : t.at("nodes")) s.topology.nodes.push_back({n.at("name"), n.at("netns"), n.at("ip")});
    for (const auto& h : t.at("hosts"))
      s.topology.hosts.push_back(
          {h.at("name"), h.at("netns"), h.at("ip"), h.at("external"), h.at("node"), h.at("host_if")});
    for (const auto& p : j.at("processes"))
      s.processes.push_back({{p.at("pid").get<pid_t>(), p.at("start_time").get<uint64_t>()}, p.at("role"), p.at("log")});
    s.bpffs_dir = j.at("bpffs_dir");
    s.manifests_dir = j.at("manifests_dir");
    s.agent_listen = j.at("agent_listen");
    s.steps_applied = j.at("steps_applied");
  } catch (const std::exception& e) {
    return Status::error("lab state " + dir + "/state.json: " + e.what());
  }
  return Status::ok();
}

}  // namespace bpfence::lab
