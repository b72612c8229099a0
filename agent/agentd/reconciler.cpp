// The reconcile loop: queue -> store + compiler -> dataplane -> bindings ->
// snapshot for the API, then sleep until work or the next deadline.
#include "reconciler.h"

#include <malloc.h>

#include <algorithm>
#include <set>

#include "log.h"

namespace bpfence {
namespace {

using Clock = std::chrono::steady_clock;

// The not-ready reason while the source cannot reach its inputs.
std::string unhealthy_reason(const SourceHealth& health, bool synced, uint64_t applied) {
  // Refused credentials: the reason alone says what to fix.
  const std::string what = health.auth() ? health.reason : "source unhealthy: " + health.reason;
  if (!synced) return what + "; nothing applied yet (the source has not delivered its initial state)";
  return what + "; the last applied state (generation " + std::to_string(applied) + ") stays enforced";
}

void set_health(AgentSnapshot& s, const SourceHealth& h) {
  s.source_health = h.reason;
  s.source_state = h.ok() ? "ok" : h.state;
}

bool carries_policy(const SourceUpdate& u) {
  auto policy = [](const Object& o) { return std::holds_alternative<NetworkPolicy>(o); };
  return std::any_of(u.upserts.begin(), u.upserts.end(), policy) ||
         std::any_of(u.deletes.begin(), u.deletes.end(), [](const ObjectKey& k) { return k.kind == "NetworkPolicy"; });
}

double mono_ms(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

const char* endpoint_state_name(EndpointView::State s) {
  switch (s) {
    case EndpointView::State::bound: return "bound";
    case EndpointView::State::pending: return "pending";
    case EndpointView::State::adopted: return "adopted";
    case EndpointView::State::error: return "error";
  }
  return "unknown";
}

Reconciler::Reconciler(ReconcilerOptions options, DataplaneHandle& dataplane, InterfaceWatcher& interfaces,
                       Source& source)
    : options_(std::move(options)),
      dp_(dataplane),
      source_(source),
      compiler_(CompileOptions{options_.node, options_.host_ips}),
      unenforced_(dataplane.dataplane ? dataplane.dataplane->name() : "configured",
                  dataplane.dataplane && dataplane.dataplane->enforces_cluster_policy()),
      binder_(interfaces),
      latency_(latency_buckets()),
      update_lag_(latency_buckets()) {
  publish();
}

Reconciler::~Reconciler() { stop(); }

void Reconciler::post(SourceUpdate update) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back({std::move(update), Clock::now()});
  }
  queue_cv_.notify_one();
}

void Reconciler::interfaces_changed() {
  {
    std::lock_guard lock(queue_mutex_);
    interfaces_dirty_ = true;
  }
  queue_cv_.notify_one();
}

void Reconciler::set_host_ips(std::vector<IpAddress> ips) {
  {
    std::lock_guard lock(queue_mutex_);
    host_ips_update_ = std::move(ips);
  }
  queue_cv_.notify_one();
}

void Reconciler::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Reconciler::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stop_ = true;
  }
  queue_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const AgentSnapshot> Reconciler::snapshot() const {
  std::shared_ptr<const AgentSnapshot> snap;
  {
    std::lock_guard lock(snapshot_mutex_);
    snap = snapshot_;
  }
  // Became unhealthy since the last pass: say so now, synced or not (the
  // loop sleeps until work or a deadline). Recovery is published by the
  // loop, which wakes every second while unhealthy.
  if (!snap->source_health.empty()) return snap;
  SourceHealth health = source_.health();
  if (health.ok()) return snap;
  auto copy = std::make_shared<AgentSnapshot>(*snap);
  set_health(*copy, health);
  copy->ready = false;
  copy->not_ready_reason = unhealthy_reason(health, copy->synced, copy->applied_generation);
  return copy;
}

void Reconciler::run() {
  for (;;) {
    std::vector<Queued> batch;
    std::optional<std::vector<IpAddress>> host_ips;
    {
      std::unique_lock lock(queue_mutex_);
      auto ready = [&] { return stop_ || !queue_.empty() || interfaces_dirty_ || host_ips_update_; };
      if (auto until = deadlines_.next()) queue_cv_.wait_until(lock, *until, ready);
      else queue_cv_.wait(lock, ready);
      if (stop_) return;
      batch.swap(queue_);
      interfaces_dirty_ = false;  // every pass rebinds
      host_ips = std::exchange(host_ips_update_, std::nullopt);
    }
    if (host_ips) {
      std::unique_lock lock(compiler_mutex_);
      compiler_.set_host_ips(std::move(*host_ips));
      ++generation_;
      if (pending_since_ == Clock::time_point{}) pending_since_ = Clock::now();
      host_ips_changed_ = true;
    }
    const bool relisted = std::any_of(batch.begin(), batch.end(), [](const Queued& q) { return q.update.resync_kind; });
    pass(std::move(batch));  // the batch's objects are freed on return
    // A list of the whole cluster (the initial one, a relist) passes
    // through the heap once: at 100,000 pods the decoded objects are tens
    // of megabytes that malloc would otherwise keep as free memory in the
    // agent's RSS for good.
    if (relisted) malloc_trim(0);
    schedule();
  }
}

// Each job's next deadline after a pass.
void Reconciler::schedule() {
  auto now = Clock::now();
  if (pending_.pending()) deadlines_.set(Job::retry_apply, pending_.retry_at());
  else deadlines_.clear(Job::retry_apply);
  if (lint_.dirty()) deadlines_.set(Job::lint, lint_.due());
  else deadlines_.clear(Job::lint);
  if (binder_.has_errors()) deadlines_.set(Job::rebind, now + std::chrono::seconds(2));
  else deadlines_.clear(Job::rebind);
  // While the source is unhealthy, notice its recovery promptly.
  if (!published_health_.empty()) deadlines_.set(Job::source_health, now + std::chrono::seconds(1));
  else deadlines_.clear(Job::source_health);
  // Once enforcing, a pass now and then rebinds what netlink may have missed.
  if (first_apply_done_) deadlines_.set(Job::refresh, now + std::chrono::seconds(30));
}

// The compiler holds the only copy of the cluster's objects: at 100,000
// pods a second copy here would cost as much as the compiler's own.
void Reconciler::upsert(const Object& o) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Namespace>) {
          // Every namespace carries its name label (the API server sets it;
          // manifests may not).
          Namespace ns = v;
          ns.labels["kubernetes.io/metadata.name"] = ns.name;
          compiler_.upsert(ns);
        } else {
          compiler_.upsert(v);
        }
      },
      o);
}

void Reconciler::erase(const ObjectKey& k) {
  if (k.kind == "Namespace") compiler_.erase_namespace(k.key);
  else if (k.kind == "Pod") compiler_.erase_pod(k.key);
  else if (k.kind == "NetworkPolicy") compiler_.erase_policy(k.key);
  else if (k.kind == "ClusterNetworkPolicy") compiler_.erase_cluster_policy(k.key);
}

bool Reconciler::accept(const SourceUpdate& u) {
  bool changed = false;
  if (u.resync_kind) {
    std::set<std::string> keep;
    for (const Object& o : u.upserts) {
      ObjectKey k = key_of(o);
      if (k.kind == *u.resync_kind) keep.insert(k.key);
    }
    // A rejected object ("Kind namespace/name" in the error) keeps its last
    // good version: a relist must not delete it.
    for (const ParseError& e : u.errors) {
      auto space = e.object.find(' ');
      if (space != std::string::npos && e.object.compare(0, space, *u.resync_kind) == 0)
        keep.insert(e.object.substr(space + 1));
    }
    std::vector<ObjectKey> gone;
    auto collect = [&](const auto& objects) {
      for (const auto& [key, _] : objects)
        if (!keep.count(key)) gone.push_back({*u.resync_kind, key});
    };
    if (*u.resync_kind == "Namespace") collect(compiler_.namespaces());
    else if (*u.resync_kind == "Pod") collect(compiler_.pods());
    else if (*u.resync_kind == "NetworkPolicy") collect(compiler_.policies());
    else if (*u.resync_kind == "ClusterNetworkPolicy") collect(compiler_.cluster_policies());
    for (const ObjectKey& k : gone) erase(k);
    changed = true;
  }
  for (const Object& o : u.upserts) {
    upsert(o);
    changed = true;
  }
  for (const ObjectKey& k : u.deletes) {
    erase(k);
    changed = true;
  }
  return changed;
}

void Reconciler::pass(std::vector<Queued> batch) {
  bool changed = false;
  if (!batch.empty()) {
    std::unique_lock lock(compiler_mutex_);
    for (Queued& q : batch) {
      ++updates_total_;
      unenforced_.filter(q.update);
      if (accept(q.update)) {
        ++generation_;
        changed = true;
        // A relist is one event, however many objects it holds.
        uint64_t objects = q.update.resync_kind ? 1 : q.update.upserts.size() + q.update.deletes.size();
        unapplied_.push_back({q.at, std::max<uint64_t>(objects, 1)});
        if (pending_since_ == Clock::time_point{} || q.at < pending_since_) pending_since_ = q.at;
        if (policy_queued_at_ == Clock::time_point{} && carries_policy(q.update)) policy_queued_at_ = q.at;
      }
      // The source's initial state is everything queued up to this event.
      synced_ |= q.update.synced;
    }
  }
  if (!synced_) {
    publish();
    return;
  }

  bool due = pending_.pending() && deadlines_.due(Job::retry_apply, Clock::now());
  changed |= std::exchange(host_ips_changed_, false);
  if (!first_apply_done_ && !ids_preferred_) {
    ids_preferred_ = true;
    prefer_previous_endpoint_ids();
  }
  if (changed || !first_apply_done_ || due) {
    StateDiff diff;
    auto t0 = Clock::now();
    {
      std::unique_lock lock(compiler_mutex_);
      diff = compiler_.commit();
      ++commits_total_;
      rules_changed_ |= !diff.rules.empty() || !diff.cluster_rules.empty();
    }
    lint_.changed(Clock::now());
    std::chrono::duration<double, std::milli> commit_ms = Clock::now() - t0;
    agentlog::debug("committed", "entries=" + std::to_string(diff.size()) + " commit_ms=" +
                                     std::to_string(commit_ms.count()));
    pending_.add(std::move(diff));
    apply_pending(pending_since_);
  }
  binder_.reconcile(*dp_.dataplane, compiler_.state(), first_apply_done_);
  if (first_apply_done_ && !pending_.pending() && pending_since_ != Clock::time_point{}) {
    std::chrono::duration<double> took = Clock::now() - pending_since_;
    latency_.observe(took.count());
    pending_since_ = {};
  }
  publish();
  if (first_apply_done_ && !pruned_) {
    pruned_ = true;
    if (Status s = dp_.dataplane->prune_unclaimed(); !s)
      agentlog::warn("pruning interfaces of deleted pods failed", "error=" + agentlog::q(s.message()));
  }
  lint_if_due();
}

// Lint runs after the change is enforced and published, and only when no
// further change is waiting (LintSchedule).
void Reconciler::lint_if_due() {
  auto change_waiting = [this] {
    std::lock_guard lock(queue_mutex_);
    return !queue_.empty();
  };
  if (lint_.run_if_due(compiler_, Clock::now(), change_waiting)) publish();
}

void Reconciler::apply_pending(Clock::time_point since) {
  PendingApply::Outcome out = pending_.apply(*dp_.dataplane, compiler_.state());
  if (out.status) {
    const auto now = Clock::now();
    for (const Unapplied& u : unapplied_)
      update_lag_.observe(std::chrono::duration<double>(now - u.at).count(), u.objects);
    unapplied_.clear();
    applied_generation_ = generation_;
    last_applied_at_ = std::chrono::system_clock::now();
    bool first = !first_apply_done_;
    first_apply_done_ = true;
    std::chrono::duration<double, std::milli> since_ms = Clock::now() - since;
    agentlog::line(first || out.recovered ? agentlog::Level::info : agentlog::Level::debug,
                   first ? "initial state applied" : out.recovered ? "apply recovered" : "applied",
                   "generation=" + std::to_string(generation_) + " entries=" + std::to_string(out.entries) +
                       " apply_ms=" + std::to_string(out.took.count()) +
                       (since != Clock::time_point{} ? " since_update_ms=" + std::to_string(since_ms.count()) : "") +
                       // Monotonic clock readings: a benchmark on this host
                       // lines a policy change up with its application.
                       (policy_queued_at_ != Clock::time_point{}
                            ? " policy_queued_mono_ms=" + std::to_string(mono_ms(policy_queued_at_)) +
                                  " applied_mono_ms=" + std::to_string(mono_ms(now))
                            : ""));
    policy_queued_at_ = {};
    return;
  }
  agentlog::error("apply failed; previous state stays enforced",
                  "generation=" + std::to_string(generation_) + " applied_generation=" +
                      std::to_string(applied_generation_) +
                      " fail_closed_pods=" + std::to_string(pending_.fail_closed().size()) +
                      " newly_fail_closed=" + std::to_string(out.newly_fail_closed) +
                      " retry_in_ms=" + std::to_string(pending_.backoff().count()) +
                      " error=" + agentlog::q(out.status.message()));
}

void Reconciler::prefer_previous_endpoint_ids() {
  std::vector<EndpointRecord> previous = dp_.dataplane->adopted_endpoints();
  if (previous.empty()) return;
  std::map<std::string, uint32_t> ids = binder_.previous_endpoint_ids(previous, compiler_.pods(), options_.node);
  agentlog::info("previous endpoint ids", "adopted_entries=" + std::to_string(previous.size()) +
                                              " matched_pods=" + std::to_string(ids.size()));
  std::unique_lock lock(compiler_mutex_);
  compiler_.prefer_endpoint_ids(ids);
}

std::vector<PodView> Reconciler::pods() const {
  std::shared_lock lock(compiler_mutex_);
  const DesiredState& st = compiler_.state();
  std::vector<PodView> out;
  for (const auto& [_, pod] : compiler_.pods()) {
    const Pod* p = &pod;
    PodView v;
    v.namespace_ = p->namespace_;
    v.name = p->name;
    v.node = p->node_name;
    v.ips = p->ips;
    v.labels = p->labels;
    v.host_network = p->host_network;
    v.local = st.endpoints.count(p->key()) > 0;
    for (const IpAddress& ip : p->ips) {
      if (auto a = st.pod_addrs.find(ip); a != st.pod_addrs.end()) {
        v.identity = a->second;
        break;
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

void Reconciler::publish() {
  auto snap = std::make_shared<AgentSnapshot>();
  AgentSnapshot& s = *snap;
  const DesiredState& st = compiler_.state();
  s.generation = generation_;
  s.applied_generation = applied_generation_;
  s.synced = synced_;
  s.first_apply_done = first_apply_done_;
  s.apply_error = pending_.error();
  const FailClosedPods& fail_closed = pending_.fail_closed();
  s.fail_closed.assign(fail_closed.pods().begin(), fail_closed.pods().end());
  for (const auto& [pod, es] : st.endpoints) {
    EndpointView v;
    v.pod = pod;
    v.ips = es.ips;
    v.endpoint_id = es.endpoint_id;
    v.identity = es.identity;
    v.ingress_isolated = es.ingress_isolated;
    v.egress_isolated = es.egress_isolated;
    v.ingress_policies = es.ingress_policies;
    v.egress_policies = es.egress_policies;
    v.fail_closed = fail_closed.contains(pod);
    if (const InterfaceBinder::Binding* b = binder_.find(pod)) {
      v.state = b->state;
      v.ifindex = b->ifindex;
      v.ifname = b->ifname;
      v.error = b->error;
    } else {
      v.error = "not reconciled yet";
    }
    switch (v.state) {
      case EndpointView::State::bound: ++s.bound; break;
      case EndpointView::State::error: ++s.bind_errors; break;
      default: ++s.pending; break;
    }
    s.endpoint_pods[es.endpoint_id] = pod;
    s.endpoints.push_back(std::move(v));
  }
  s.source_notes = source_.notes();
  s.errors = source_.current_errors();
  for (ParseError& e : unenforced_.current()) s.errors.push_back(std::move(e));
  s.warnings = lint_.warnings();
  if (rules_changed_) {
    published_rules_ = std::make_shared<const std::map<uint32_t, RuleRef>>(st.rules);
    published_cluster_rules_ = std::make_shared<const std::map<uint32_t, CnpRuleRef>>(st.cluster_rules);
    rules_changed_ = false;
  }
  s.rules = published_rules_;
  s.cluster_rules = published_cluster_rules_;
  s.namespaces = compiler_.namespaces().size();
  s.pods = compiler_.pods().size();
  s.policies = compiler_.policies().size();
  s.cluster_policies = compiler_.cluster_policies().size();
  s.pod_addrs = st.pod_addrs.size();
  s.cidrs = st.cidrs.size();
  s.policy_entries = st.policy.size();
  s.range_entries = st.ranges.size();
  s.updates_total = updates_total_;
  s.commits_total = commits_total_;
  s.apply_errors_total = pending_.errors_total();
  s.bind_errors_total = binder_.errors_total();
  s.last_applied_at = last_applied_at_;

  const SourceHealth health = source_.health();
  set_health(s, health);
  published_health_ = s.source_health;
  if (!health.ok()) {
    s.not_ready_reason = unhealthy_reason(health, s.synced, applied_generation_);
  } else if (!s.synced) {
    s.not_ready_reason = "source not synced yet (" + source_.describe() + ")";
  } else if (!first_apply_done_) {
    s.not_ready_reason = "initial state not applied" + (s.apply_error.empty() ? "" : ": " + s.apply_error);
  } else if (pending_.pending() || applied_generation_ != generation_) {
    s.not_ready_reason = "generation " + std::to_string(generation_) + " not applied (applied " +
                         std::to_string(applied_generation_) + ")" +
                         (s.apply_error.empty() ? "" : ": " + s.apply_error);
  } else if (s.pending || s.bind_errors) {
    std::string list;
    int shown = 0;
    for (const EndpointView& v : s.endpoints) {
      if (v.state == EndpointView::State::bound) continue;
      if (shown++ < 5) list += (list.empty() ? "" : "; ") + v.pod + " (" + endpoint_state_name(v.state) + ": " + v.error + ")";
    }
    s.not_ready_reason = std::to_string(s.pending) + " endpoints pending, " + std::to_string(s.bind_errors) +
                         " failed to bind: " + list;
  } else {
    s.ready = true;
  }
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(snap);
}

}  // namespace bpfence
