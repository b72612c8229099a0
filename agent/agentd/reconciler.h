// The reconciler: one thread that owns the store (the Compiler holds the
// cluster's objects) and keeps the kernel equal to what the source says.
// Its loop takes what is queued, commits it, applies the diff, binds
// interfaces and publishes a snapshot; the jobs that wait for time (apply
// retries, lint, rebinds) keep their own deadlines in one scheduler.
//
// - Every accepted SourceUpdate (one with upserts, deletes or a relist)
//   bumps `generation`. Updates queued while the thread was busy are
//   drained together into one commit (bursts coalesce); a lone change is
//   applied as soon as it arrives: there is no sync timer.
// - Nothing is applied before the source's synced event (an update marked
//   `synced`, queued behind its initial state): the first apply after a
//   restart is a full resync, and a partial state would briefly unenforce.
// - `applied_generation` = `generation` once the dataplane applied the diff
//   without error; a failed apply is retried (PendingApply), its pods held
//   fail-closed meanwhile. /readyz, /metrics, the log and /v1/status show
//   the failure.
// - Endpoints are bound to their host-side veths by the InterfaceBinder.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent_snapshot.h"
#include "api/metrics.h"
#include "bpfence/compiler.h"
#include "bpfence/dataplane.h"
#include "bpfence/source.h"
#include "dataplane_factory.h"
#include "deadline_scheduler.h"
#include "interface_binder.h"
#include "interfaces.h"
#include "lint_schedule.h"
#include "pending_apply.h"
#include "unenforced_policies.h"

namespace bpfence {

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
  const Histogram& update_lag() const { return update_lag_; }
  // Every pod in the store, by namespace/name (takes the store's lock shared).
  std::vector<PodView> pods() const;

 private:
  struct Queued {
    SourceUpdate update;
    std::chrono::steady_clock::time_point at;
  };
  // What waits for time rather than for work.
  enum class Job { retry_apply, lint, rebind, source_health, refresh };

  void run();
  void pass(std::vector<Queued> batch);
  bool accept(const SourceUpdate& u);  // returns true when it changes the store
  void upsert(const Object& o);
  void erase(const ObjectKey& k);
  void apply_pending(std::chrono::steady_clock::time_point since);
  void lint_if_due();
  void schedule();
  void publish();
  void prefer_previous_endpoint_ids();

  ReconcilerOptions options_;
  DataplaneHandle& dp_;
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

  bool synced_ = false;  // the source's synced event was taken
  uint64_t generation_ = 0;
  uint64_t applied_generation_ = 0;
  bool first_apply_done_ = false;
  bool pruned_ = false;
  bool ids_preferred_ = false;
  bool host_ips_changed_ = false;
  std::chrono::steady_clock::time_point pending_since_{};
  PendingApply pending_;
  InterfaceBinder binder_;
  LintSchedule lint_;
  DeadlineScheduler<Job> deadlines_;
  std::string published_health_;
  uint64_t updates_total_ = 0, commits_total_ = 0;
  std::chrono::system_clock::time_point last_applied_at_{};
  Histogram latency_;
  // Per object changed: how long it waited from its delivery by the source
  // to the dataplane applying it. `latency_` has one sample per pass (the
  // oldest update of a burst); under a steady stream of events this one
  // says how far behind the stream the agent runs.
  Histogram update_lag_;
  struct Unapplied {
    std::chrono::steady_clock::time_point at;
    uint64_t objects;
  };
  std::vector<Unapplied> unapplied_;  // accepted, not applied yet
  // When the oldest NetworkPolicy change not applied yet was queued (the
  // debug log of its apply says, to time policy changes under churn).
  std::chrono::steady_clock::time_point policy_queued_at_{};
  // The rules the snapshots share; copied again only after a commit that
  // changed one.
  std::shared_ptr<const std::map<uint32_t, RuleRef>> published_rules_;
  std::shared_ptr<const std::map<uint32_t, CnpRuleRef>> published_cluster_rules_;
  bool rules_changed_ = true;  // true: the first publish copies them

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const AgentSnapshot> snapshot_;
};

}  // namespace bpfence
