// The agent process: wires the source, the netlink watcher, the dataplane,
// the reconciler, the HTTP API and the flow sweeper together, and takes
// them down in an order that leaves enforcement in place.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "api/http_server.h"
#include "api_routes.h"
#include "dataplane_factory.h"
#include "interfaces.h"
#include "options.h"
#include "reconciler.h"

namespace bpfence {

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Opens everything and starts the threads; an error names what failed.
  Status start();
  // Stops the threads. Programs stay attached and maps pinned.
  void stop();

 private:
  Status make_source();
  // Every second: pins removed under the agent are restored; every
  // sweep interval: flows age out.
  void sweep_loop();
  void check_pins();
  // Re-reads the node's addresses (unless --host-ip fixed them) and hands a
  // real change to the reconciler. Any thread.
  void refresh_host_ips();

  AgentOptions options_;
  AgentInfo info_;
  AgentCounters counters_;
  DataplaneHandle dataplane_;
  InterfaceWatcher interfaces_;
  std::unique_ptr<Source> source_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<HttpServer> http_;
  std::thread sweeper_;
  std::mutex sweep_mutex_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::mutex host_ips_mutex_;
  std::vector<IpAddress> host_ips_;  // what the reconciler compiles with
};

// Runs `bpfence-agent` with these arguments; returns the exit code.
int agent_main(int argc, char** argv);

}  // namespace bpfence
