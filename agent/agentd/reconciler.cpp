// The reconcile loop: queue -> store + compiler -> dataplane -> bindings ->
// snapshot for the API.
#include "reconciler.h"

#include <algorithm>
#include <cstring>

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

// Later changes to a key override earlier ones: the result applied to the
// kernel's state gives the same as applying both in order.
template <class K, class V>
void merge_map(MapDiff<K, V>& into, MapDiff<K, V>&& d) {
  if (d.empty()) return;
  if (into.empty()) {
    into = std::move(d);
    return;
  }
  std::map<K, std::optional<V>> m;
  for (auto& [k, v] : into.upsert) m[k] = std::move(v);
  for (auto& k : into.erase) m[k] = std::nullopt;
  for (auto& [k, v] : d.upsert) m[k] = std::move(v);
  for (auto& k : d.erase) m[k] = std::nullopt;
  into = {};
  for (auto& [k, v] : m) {
    if (v) into.upsert.emplace_back(k, std::move(*v));
    else into.erase.push_back(k);
  }
}

void merge_diff(StateDiff& into, StateDiff&& d) {
  merge_map(into.endpoints, std::move(d.endpoints));
  merge_map(into.pod_addrs, std::move(d.pod_addrs));
  merge_map(into.cidrs, std::move(d.cidrs));
  merge_map(into.policy, std::move(d.policy));
  merge_map(into.ranges, std::move(d.ranges));
  merge_map(into.rules, std::move(d.rules));
  into.touched_endpoints.insert(d.touched_endpoints.begin(), d.touched_endpoints.end());
}

std::string ips_text(const std::vector<IpAddress>& ips) {
  std::string s;
  for (const IpAddress& ip : ips) s += (s.empty() ? "" : ",") + ip.str();
  return s;
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
      interfaces_(interfaces),
      source_(source),
      compiler_(CompileOptions{options_.node, options_.host_ips}),
      unenforced_(dataplane.dataplane ? dataplane.dataplane->name() : "configured"),
      latency_(latency_buckets()) {
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
  // Became unhealthy since the last pass: say so now. (Recovery is
  // published by the loop, which wakes every second while unhealthy.)
  if (!snap->synced || !snap->source_health.empty()) return snap;
  SourceHealth health = source_.health();
  if (health.ok()) return snap;
  auto copy = std::make_shared<AgentSnapshot>(*snap);
  set_health(*copy, health);
  copy->ready = false;
  copy->not_ready_reason = unhealthy_reason(health, true, copy->applied_generation);
  return copy;
}

void Reconciler::run() {
  for (;;) {
    std::vector<Queued> batch;
    bool interfaces = false;
    std::optional<std::vector<IpAddress>> host_ips;
    {
      std::unique_lock lock(queue_mutex_);
      // Wake up on work; also on a timer while waiting for the source's
      // initial state, for a retry, or to rebind after an error.
      auto ready = [&] { return stop_ || !queue_.empty() || interfaces_dirty_ || host_ips_update_; };
      // Until the first apply, poll: a source hands over its initial state
      // before it reports synced, so the pass that took that state may have
      // seen "not synced" and left the first commit to a later pass.
      if (!source_.synced() || (!first_apply_done_ && !have_pending_)) {
        queue_cv_.wait_for(lock, std::chrono::milliseconds(20), ready);
      } else if (have_pending_) {
        queue_cv_.wait_until(lock, retry_at_, ready);
      } else {
        bool bind_errors = std::any_of(bindings_.begin(), bindings_.end(),
                                       [](const auto& b) { return b.second.state == EndpointView::State::error; });
        auto wait = bind_errors ? std::chrono::seconds(2) : std::chrono::seconds(30);
        // While the source is unhealthy, notice its recovery promptly.
        if (!published_health_.empty()) wait = std::chrono::seconds(1);
        auto until = Clock::now() + wait;
        if (lint_dirty_) until = std::min(until, lint_due_);
        queue_cv_.wait_until(lock, until, ready);
      }
      if (stop_) return;
      batch.swap(queue_);
      interfaces = std::exchange(interfaces_dirty_, false);
      host_ips = std::exchange(host_ips_update_, std::nullopt);
    }
    if (host_ips) {
      std::unique_lock lock(compiler_mutex_);
      compiler_.set_host_ips(std::move(*host_ips));
      ++generation_;
      if (pending_since_ == Clock::time_point{}) pending_since_ = Clock::now();
      host_ips_changed_ = true;
    }
    pass(std::move(batch), interfaces);
  }
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

void Reconciler::pass(std::vector<Queued> batch, bool /*interfaces*/) {
  bool changed = false;
  if (!batch.empty()) {
    std::unique_lock lock(compiler_mutex_);
    for (Queued& q : batch) {
      ++updates_total_;
      unenforced_.filter(q.update);
      if (accept(q.update)) {
        ++generation_;
        changed = true;
        if (pending_since_ == Clock::time_point{} || q.at < pending_since_) pending_since_ = q.at;
      }
    }
  }
  if (!source_.synced()) {
    publish();
    return;
  }

  bool due = have_pending_ && Clock::now() >= retry_at_;
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
    }
    mark_lint_dirty();
    std::chrono::duration<double, std::milli> commit_ms = Clock::now() - t0;
    agentlog::debug("committed", "entries=" + std::to_string(diff.size()) + " commit_ms=" +
                                     std::to_string(commit_ms.count()));
    merge_diff(pending_, std::move(diff));
    have_pending_ = true;
    apply_pending(pending_since_);
  }
  reconcile_bindings();
  if (first_apply_done_ && !have_pending_ && pending_since_ != Clock::time_point{}) {
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
  // Lint is slow next to a commit (tens of milliseconds at ten thousand
  // pods) and only informs: it runs after the change is enforced and
  // published, once changes have paused (lint_due_), and only when no
  // further change is waiting.
  bool idle;
  {
    std::lock_guard lock(queue_mutex_);
    idle = queue_.empty();
  }
  if (lint_dirty_ && idle && Clock::now() >= lint_due_) {
    auto t0 = Clock::now();
    // A change that arrives meanwhile interrupts the lint (which can take
    // long at thousands of policies), so it never delays enforcement; the
    // lint runs again once the reconciler is idle.
    auto change_waiting = [this] {
      std::lock_guard lock(queue_mutex_);
      return !queue_.empty();
    };
    std::vector<Warning> warnings;
    bool done = compiler_.warnings(&warnings, change_waiting);
    std::chrono::duration<double, std::milli> lint_ms = Clock::now() - t0;
    if (!done) {
      agentlog::debug("lint interrupted by a change", "lint_ms=" + std::to_string(lint_ms.count()));
      return;
    }
    warnings_ = std::move(warnings);
    lint_dirty_ = false;
    agentlog::debug("linted", "warnings=" + std::to_string(warnings_.size()) +
                                  " lint_ms=" + std::to_string(lint_ms.count()));
    publish();
  }
}

// Each change moves the lint kLintQuiet later, so a burst of changes (a
// deploy, kubectl apply of a folder, an edit and its revert) is linted once
// after it; never more than kLintMaxDelay after the first unlinted change,
// so warnings still show under steady churn.
void Reconciler::mark_lint_dirty() {
  constexpr auto kLintQuiet = std::chrono::milliseconds(250);
  constexpr auto kLintMaxDelay = std::chrono::seconds(2);
  auto now = Clock::now();
  if (!lint_dirty_) lint_dirty_since_ = now;
  lint_dirty_ = true;
  lint_due_ = std::min(now + kLintQuiet, lint_dirty_since_ + kLintMaxDelay);
}

void Reconciler::apply_pending(Clock::time_point since) {
  const DesiredState& state = compiler_.state();
  auto t0 = Clock::now();
  Status s = dp_.dataplane->apply(pending_, state);
  std::chrono::duration<double, std::milli> took = Clock::now() - t0;
  if (s) {
    size_t entries = pending_.size();
    bool recovered = !apply_error_.empty();
    pending_ = {};
    have_pending_ = false;
    apply_error_.clear();
    retry_backoff_ = std::chrono::milliseconds(0);
    applied_generation_ = generation_;
    last_applied_at_ = std::chrono::system_clock::now();
    for (const std::string& pod : fail_closed_.pods()) (void)dp_.dataplane->set_fail_closed(pod, false);
    if (!fail_closed_.empty())
      agentlog::info("fail-closed cleared", "pods=" + std::to_string(fail_closed_.size()));
    fail_closed_.clear_all();
    bool first = !first_apply_done_;
    first_apply_done_ = true;
    std::chrono::duration<double, std::milli> since_ms = Clock::now() - since;
    agentlog::line(first || recovered ? agentlog::Level::info : agentlog::Level::debug,
                   first ? "initial state applied" : recovered ? "apply recovered" : "applied",
                   "generation=" + std::to_string(generation_) + " entries=" + std::to_string(entries) +
                       " apply_ms=" + std::to_string(took.count()) +
                       (since != Clock::time_point{} ? " since_update_ms=" + std::to_string(since_ms.count()) : ""));
    return;
  }
  ++apply_errors_total_;
  apply_error_ = s.message();
  retry_backoff_ = std::clamp(retry_backoff_ * 2, std::chrono::milliseconds(1000), std::chrono::milliseconds(30000));
  retry_at_ = Clock::now() + retry_backoff_;
  // The kernel keeps the previous state. Pods whose own policy entries or
  // endpoint changed in the diff get no new flows until it is in place
  // (issue 8: fail closed). touched_endpoints is wider (every endpoint when
  // an address changed identity) and would close pods the change does not
  // concern: a peer's new identity or prefix matters to a pod only through
  // its policy entries, which are then in the diff.
  std::map<uint32_t, std::string> pod_of;
  for (const auto& [pod, es] : state.endpoints) pod_of[es.endpoint_id] = pod;
  std::set<std::string> touched;
  auto touch = [&](uint32_t endpoint_id) {
    if (auto it = pod_of.find(endpoint_id); it != pod_of.end()) touched.insert(it->second);
  };
  for (const auto& [k, rule] : pending_.policy.upsert) touch(k.k.endpoint_id);
  for (const auto& k : pending_.policy.erase) touch(k.k.endpoint_id);
  for (const auto& [k, rule] : pending_.ranges.upsert) touch(k.k.endpoint_id);
  for (const auto& k : pending_.ranges.erase) touch(k.k.endpoint_id);
  for (const auto& [pod, es] : pending_.endpoints.upsert) touched.insert(pod);
  size_t newly = 0;
  for (const std::string& pod : touched) {
    if (!state.endpoints.count(pod) || fail_closed_.contains(pod)) continue;
    if (Status f = dp_.dataplane->set_fail_closed(pod, true); !f)
      agentlog::error("cannot set fail-closed", "pod=" + pod + " error=" + agentlog::q(f.message()));
    fail_closed_.set(pod, true);
    ++newly;
  }
  agentlog::error("apply failed; previous state stays enforced",
                  "generation=" + std::to_string(generation_) + " applied_generation=" +
                      std::to_string(applied_generation_) + " fail_closed_pods=" + std::to_string(fail_closed_.size()) +
                      " newly_fail_closed=" + std::to_string(newly) +
                      " retry_in_ms=" + std::to_string(retry_backoff_.count()) + " error=" + agentlog::q(s.message()));
}

void Reconciler::prefer_previous_endpoint_ids() {
  std::vector<EndpointRecord> previous = dp_.dataplane->adopted_endpoints();
  if (previous.empty()) return;
  std::map<int, const bf_endpoint*> by_ifindex;
  for (const EndpointRecord& r : previous) by_ifindex[static_cast<int>(r.ifindex)] = &r.endpoint;
  // The pod name is not in the map: a pod is matched by the interface its
  // host route leads to, and that entry must carry one of its IPs (a pod
  // recreated with the same IP on a new veth is a new endpoint).
  std::map<std::string, uint32_t> ids;
  for (const auto& [key, p] : compiler_.pods()) {
    const Pod* pod = &p;
    if (pod->node_name != options_.node || pod->host_network) continue;
    for (const IpAddress& ip : pod->ips) {
      std::optional<RouteTarget> target = interfaces_.lookup(ip);
      if (!target) continue;
      auto e = by_ifindex.find(target->ifindex);
      if (e == by_ifindex.end()) continue;
      if (std::memcmp(e->second->ip4, ip.bytes.data(), 16) != 0 &&
          std::memcmp(e->second->ip6, ip.bytes.data(), 16) != 0)
        continue;
      ids[key] = e->second->endpoint_id;
      break;
    }
  }
  agentlog::info("previous endpoint ids", "adopted_entries=" + std::to_string(previous.size()) +
                                              " matched_pods=" + std::to_string(ids.size()));
  std::unique_lock lock(compiler_mutex_);
  compiler_.prefer_endpoint_ids(ids);
}

void Reconciler::reconcile_bindings() {
  const DesiredState& st = compiler_.state();
  Dataplane& dp = *dp_.dataplane;
  std::map<std::string, InterfaceBinding> cur;
  for (InterfaceBinding& b : dp.bindings()) cur[b.pod] = std::move(b);
  // Until the first apply succeeds, interfaces the previous agent enforced
  // stay as it left them: rebinding them now would point them at maps that
  // do not hold their policy.
  std::set<int> adopted;
  if (!first_apply_done_) {
    std::vector<int> unclaimed = dp_.dataplane->unclaimed_ifindexes();
    adopted.insert(unclaimed.begin(), unclaimed.end());
  }

  std::map<std::string, Binding> next;
  for (const auto& [pod, es] : st.endpoints) {
    Binding b;
    std::optional<RouteTarget> target;
    for (const IpAddress& ip : es.ips)
      if ((target = interfaces_.lookup(ip))) break;
    auto c = cur.find(pod);
    // The pod's interface was deleted and a link of the same name is back
    // (CNIs name the host veth after the pod): bind it now, before its host
    // route exists, so no packet reaches or leaves the pod unenforced.
    // The same holds for a new veth into the pod's namespace (bridge CNIs
    // name veths at random), bound before its peer has the pod's address.
    std::string last_ifname;
    int last_ifindex = 0, last_netnsid = -1;
    auto prev = bindings_.find(pod);
    if (prev != bindings_.end()) last_netnsid = prev->second.netnsid;
    if (c != cur.end()) {
      last_ifname = c->second.ifname;
      last_ifindex = c->second.ifindex;
    } else if (prev != bindings_.end()) {
      last_ifname = prev->second.ifname;
      last_ifindex = prev->second.last_ifindex;
    }
    if (!target) {
      // Bound: stay on that link until it goes. Pending: only a new link.
      auto usable = [&](const std::optional<RouteTarget>& link) {
        return link && (c != cur.end() || link->ifindex != last_ifindex);
      };
      if (auto link = interfaces_.unrouted_link(last_ifname); usable(link))
        target = link;
      else if (auto into = interfaces_.veth_into(last_netnsid); usable(into))
        target = into;
    }
    b.netnsid = target && target->peer_netnsid >= 0 ? target->peer_netnsid : last_netnsid;
    if (!target) {
      if (c != cur.end()) {
        agentlog::info("interface gone", "pod=" + pod + " ifindex=" + std::to_string(c->second.ifindex));
        if (Status s = dp.unbind(pod); !s)
          agentlog::warn("unbind failed", "pod=" + pod + " error=" + agentlog::q(s.message()));
      } else if (!bindings_.count(pod) || bindings_[pod].state != EndpointView::State::pending) {
        agentlog::info("endpoint pending", "pod=" + pod + " ips=" + ips_text(es.ips) +
                                               " reason=\"no veth holds it or routes to it\"");
      }
      b.state = EndpointView::State::pending;
      b.error = "no veth found for " + ips_text(es.ips) + " (none whose peer holds it, no host route out of one)";
      b.ifname = last_ifname;  // remembered: a new link of that name is bound on sight
      b.last_ifindex = last_ifindex;
    } else if (c != cur.end() && c->second.ifindex == target->ifindex) {
      b.state = EndpointView::State::bound;
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
    } else if (adopted.count(target->ifindex)) {
      b.state = EndpointView::State::adopted;
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
      b.error = "enforced with the previous agent's state until the first apply succeeds";
    } else {
      b.ifindex = target->ifindex;
      b.ifname = target->ifname;
      if (Status s = dp.bind(InterfaceBinding{pod, target->ifindex, target->ifname}, st); s) {
        b.state = EndpointView::State::bound;
      } else {
        b.state = EndpointView::State::error;
        b.error = s.message();
        ++bind_errors_total_;
        agentlog::error("bind failed", "pod=" + pod + " ifindex=" + std::to_string(target->ifindex) +
                                           " error=" + agentlog::q(s.message()));
      }
    }
    next[pod] = std::move(b);
  }
  for (const auto& [pod, b] : cur) {
    if (st.endpoints.count(pod)) continue;
    if (Status s = dp.unbind(pod); !s)
      agentlog::warn("unbind failed", "pod=" + pod + " error=" + agentlog::q(s.message()));
  }
  bindings_ = std::move(next);
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
  s.synced = source_.synced();
  s.first_apply_done = first_apply_done_;
  s.apply_error = apply_error_;
  s.fail_closed.assign(fail_closed_.pods().begin(), fail_closed_.pods().end());
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
    v.fail_closed = fail_closed_.contains(pod);
    if (auto b = bindings_.find(pod); b != bindings_.end()) {
      v.state = b->second.state;
      v.ifindex = b->second.ifindex;
      v.ifname = b->second.ifname;
      v.error = b->second.error;
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
  s.errors = source_.current_errors();
  for (ParseError& e : unenforced_.current()) s.errors.push_back(std::move(e));
  s.warnings = warnings_;
  s.rules = st.rules;
  s.namespaces = compiler_.namespaces().size();
  s.pods = compiler_.pods().size();
  s.policies = compiler_.policies().size();
  s.pod_addrs = st.pod_addrs.size();
  s.cidrs = st.cidrs.size();
  s.policy_entries = st.policy.size();
  s.range_entries = st.ranges.size();
  s.updates_total = updates_total_;
  s.commits_total = commits_total_;
  s.apply_errors_total = apply_errors_total_;
  s.bind_errors_total = bind_errors_total_;
  s.last_applied_at = last_applied_at_;

  const SourceHealth health = source_.health();
  set_health(s, health);
  published_health_ = s.source_health;
  if (!health.ok()) {
    s.not_ready_reason = unhealthy_reason(health, s.synced, applied_generation_);
  } else if (!s.synced) {
    s.not_ready_reason = "source not synced yet (" + source_.describe() + ")";
  } else if (!first_apply_done_) {
    s.not_ready_reason = "initial state not applied" + (apply_error_.empty() ? "" : ": " + apply_error_);
  } else if (have_pending_ || applied_generation_ != generation_) {
    s.not_ready_reason = "generation " + std::to_string(generation_) + " not applied (applied " +
                         std::to_string(applied_generation_) + ")" +
                         (apply_error_.empty() ? "" : ": " + apply_error_);
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
