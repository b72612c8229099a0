// HTTP queries to a lab agent inside its node's namespace (see agent_client.h).
#include "agent_client.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "netns.h"

namespace bpfence::lab {

Status query_agent(const std::string& netns, const std::string& listen, AgentStatus& out) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::error("agent address " + listen + ": want ADDR:PORT");
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  return run_in_netns(netns, [&]() -> Status {
    // The socket is created on this thread, hence inside the node's netns.
    httplib::Client client(host, port);
    client.set_connection_timeout(0, 500'000);
    client.set_read_timeout(2, 0);
    auto status = client.Get("/v1/status");
    if (!status) return Status::error("agent " + netns + " " + listen + ": /v1/status: " + httplib::to_string(status.error()));
    if (status->status != 200)
      return Status::error("agent " + netns + ": /v1/status: HTTP " + std::to_string(status->status));
    try {
      auto j = nlohmann::json::parse(status->body);
      out.generation = j.at("generation").get<int64_t>();
      out.applied_generation = j.at("applied_generation").get<int64_t>();
    } catch (const std::exception& e) {
      return Status::error("agent " + netns + ": /v1/status: " + e.what());
    }
    auto ready = client.Get("/readyz");
    if (!ready) return Status::error("agent " + netns + ": /readyz: " + httplib::to_string(ready.error()));
    out.ready = ready->status == 200;
    out.readyz_body = ready->body;
    return Status::ok();
  });
}

}  // namespace bpfence::lab
