// The reconciler: one thread that owns the store, the Compiler and the
// Dataplane, and keeps the kernel equal to what the source says.
//
// - Every accepted SourceUpdate (one with upserts, deletes or a relist)
//   bumps `generation`. Updates queued while the thread was busy are
//   drained together into one commit (bursts coalesce); a lone change is
//   applied as soon as it arrives: there is no sync timer.
// - Nothing is applied before the source is synced: the first apply after a
//   restart is a full resync, and a partial state would briefly unenforce.
// - `applied_generation` = `generation` once the dataplane applied the diff
//   without error. When it fails (a full map, say), the kernel keeps the
//   previous state (the dataplane checks capacity before writing), the
//   diff is kept and retried merged with later ones, and every local pod it
//   touches is set fail-closed: it keeps its established flows but gets no
//   new ones until its policy is in place. /readyz, /metrics, the log and
//   /v1/status show the failure.
// - Endpoints: a local pod is bound to its host-side veth (the one whose
//   peer holds its address, or its host route leads out of) as soon as both
//   exist, pending until then, unbound when either goes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/metrics.h"
#include "bpfence/compiler.h"
#include "bpfence/dataplane.h"
#include "bpfence/fail_closed.h"
#include "bpfence/source.h"
#include "dataplane_factory.h"
#include "interfaces.h"
#include "unenforced_policies.h"

namespace bpfence {

// One local pod as /v1/endpoints shows it.
struct EndpointView {
  enum class State { bound, pending, adopted, error };
  std::string pod;
  std::vector<IpAddress> ips;
  uint32_t endpoint_id = 0;
  uint32_t identity = 0;
  bool ingress_isolated = false;
  bool egress_isolated = false;
  std::vector<std::string> ingress_policies;
  std::vector<std::string> egress_policies;
  State state = State::pending;
  int ifindex = 0;
  std::string ifname;
  std::string error;  // why binding failed, or why it is pending
  bool fail_closed = false;
};

const char* endpoint_state_name(EndpointView::State s);

// One pod of the store as /v1/pods shows it (every pod the source knows,
// local or not: the CLI names remote addresses with it).
struct PodView {
  std::string namespace_, name;
  std::string node;
  std::vector<IpAddress> ips;
  Labels labels;
  bool host_network = false;
  bool local = false;
  uint32_t identity = 0;  // of its first address in the committed state; 0 if none
};

// What the API reads: a consistent picture published after every pass.
struct AgentSnapshot {
  uint64_t generation = 0;
  uint64_t applied_generation = 0;
  bool synced = false;
  bool first_apply_done = false;
  bool ready = false;
  std::string not_ready_reason;
  // The source's health() reason ("" when fine): the API server
  // unreachable, the agent's credentials refused. The last applied state
  // stays enforced meanwhile, but the agent cannot know it is the latest,
  // so it is not ready. source_state: "ok" or SourceHealth::state.
  std::string source_health;
  std::string source_state = "ok";
  std::vector<EndpointView> endpoints;
  size_t bound = 0, pending = 0, bind_errors = 0;
  std::string apply_error;  // the last apply's error while it is unresolved
  std::vector<std::string> fail_closed;
  std::vector<ParseError> errors;  // source errors
  std::vector<Warning> warnings;   // compiler lint
  std::map<uint32_t, RuleRef> rules;
  std::map<uint32_t, std::string> endpoint_pods;  // endpoint id -> pod
  size_t namespaces = 0, pods = 0, policies = 0;
  size_t pod_addrs = 0, cidrs = 0, policy_entries = 0, range_entries = 0;
  uint64_t updates_total = 0, commits_total = 0, apply_errors_total = 0, bind_errors_total = 0;
  std::chrono::system_clock::time_point last_applied_at{};
};

struct ReconcilerOptions {
  std::string node;
  std::vector<IpAddress> host_ips;
};

class Reconciler {
 public:
  Reconciler(ReconcilerOptions options, DataplaneHandle& dataplane, InterfaceWatcher& interfaces, Source& source);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Thread-safe entry points (source thread, netlink thread).
  void post(SourceUpdate update);
  void interfaces_changed();
  // The node's own addresses changed: recompiled like any other change.
  void set_host_ips(std::vector<IpAddress> ips);

  void start();
  void stop();

  // The last published picture; when the source's health changed since, a
  // copy that says so (the loop may be idle for a while).
  std::shared_ptr<const AgentSnapshot> snapshot() const;
  // Runs f(compiler, store) with the compiler's committed state frozen
  // (verdict(), policies()); f must be quick.
  template <class F>
  auto read(F&& f) const {
    std::shared_lock lock(compiler_mutex_);
    return f(compiler_);
  }
  const Histogram& latency() const { return latency_; }
  // Every pod in the store, by namespace/name (takes the store's lock shared).
  std::vector<PodView> pods() const;

 private:
  struct Queued {
    SourceUpdate update;
    std::chrono::steady_clock::time_point at;
  };
  struct Binding {
    EndpointView::State state = EndpointView::State::pending;
    int ifindex = 0;
    std::string ifname;
    std::string error;
    int last_ifindex = 0;  // pending: the interface it lost (a new link of its name is bound)
    int netnsid = -1;      // the pod's namespace (a new veth into it is bound)
  };

  void run();
  void pass(std::vector<Queued> batch, bool interfaces);
  bool accept(const SourceUpdate& u);  // returns true when it changes the store
  void upsert(const Object& o);
  void erase(const ObjectKey& k);
  void apply_pending(std::chrono::steady_clock::time_point since);
  void mark_lint_dirty();
  void reconcile_bindings();
  void publish();
  // Before the first commit: pods whose interface still carries the entry
  // an earlier agent wrote (same ifindex, same IP) keep its endpoint id, so
  // their cached flows stay valid.
  void prefer_previous_endpoint_ids();

  ReconcilerOptions options_;
  DataplaneHandle& dp_;
  InterfaceWatcher& interfaces_;
  Source& source_;

  // The queue.
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Queued> queue_;
  bool interfaces_dirty_ = false;
  std::optional<std::vector<IpAddress>> host_ips_update_;
  bool stop_ = false;
  std::thread thread_;

  // Owned by the reconciler thread; readers take compiler_mutex_ shared.
  mutable std::shared_mutex compiler_mutex_;
  Compiler compiler_;  // also the store of the cluster's objects
  UnenforcedPolicies unenforced_;  // reconciler thread only

  uint64_t generation_ = 0;
  uint64_t applied_generation_ = 0;
  bool first_apply_done_ = false;
  bool pruned_ = false;
  bool ids_preferred_ = false;
  bool host_ips_changed_ = false;
  StateDiff pending_;  // committed but not yet in the kernel
  bool have_pending_ = false;
  std::string apply_error_;
  std::chrono::steady_clock::time_point pending_since_{};
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds retry_backoff_{0};
  FailClosedPods fail_closed_;
  std::map<std::string, Binding> bindings_;
  std::string published_health_;
  std::vector<Warning> warnings_;
  // Lint runs once changes pause (lint_due_), not after each one: at ten
  // thousand pods it takes tens of milliseconds of CPU, and a change that
  // arrived during it waited (DECISIONS.md).
  bool lint_dirty_ = false;
  std::chrono::steady_clock::time_point lint_dirty_since_{};
  std::chrono::steady_clock::time_point lint_due_{};
  uint64_t updates_total_ = 0, commits_total_ = 0, apply_errors_total_ = 0, bind_errors_total_ = 0;
  std::chrono::system_clock::time_point last_applied_at_{};
  Histogram latency_;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const AgentSnapshot> snapshot_;
};

}  // namespace bpfence
