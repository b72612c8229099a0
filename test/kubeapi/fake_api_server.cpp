// The fake API server's handlers: lists from per-rv snapshots, watch
// streams as chunked content providers that wait on a condition variable.
#include "fake_api_server.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace bpfence::test {

using nlohmann::json;

struct FakeApiServer::Stream {
  std::string path;
  uint64_t next = 0;  // absolute index into the resource's log (Resource::log_base)
  bool bookmarks = false;
  bool gone_first = false;  // answer with an ERROR 410 event and end
  uint64_t cut_generation = 0, end_generation = 0, expire_generation = 0;
  std::chrono::steady_clock::time_point deadline;
};

FakeApiServer::FakeApiServer() : server_(std::make_unique<httplib::Server>()) { setup(); }

FakeApiServer::FakeApiServer(int port) : server_(std::make_unique<httplib::Server>()) { setup(port); }

FakeApiServer::FakeApiServer(X509* cert, EVP_PKEY* key, X509_STORE* client_ca)
    : server_(std::make_unique<httplib::SSLServer>(cert, key, client_ca)), tls_(true) {
  if (!server_->is_valid()) throw std::runtime_error("fake api server: TLS setup failed");
  setup();
}

FakeApiServer::~FakeApiServer() {
  stopping_ = true;
  wake_all_streams();
  cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeApiServer::url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }

void FakeApiServer::setup(int port) {
  resources_[kNamespaces] = std::make_unique<Resource>("Namespace", "v1");
  resources_[kPods] = std::make_unique<Resource>("Pod", "v1");
  resources_[kPolicies] = std::make_unique<Resource>("NetworkPolicy", "networking.k8s.io/v1");
  resources_[kClusterPolicies] =
      std::make_unique<Resource>("ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2");
  resources_[kClusterPolicies]->served = false;  // as a cluster without the CRD

  // Watches hold a worker each; leave room for stale ones during reconnects.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_payload_max_length(4096);
  // As Go's net/http (the real API server) does: small event writes are not
  // held back by Nagle's algorithm waiting for a delayed ACK.
  server_->set_tcp_nodelay(true);
  // httplib 0.11's body parsing has known CVEs: refuse every method that
  // could carry a body before the body is read.
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      return httplib::Server::HandlerResponse::Handled;
    }
    std::lock_guard lock(mu_);
    requests_.push_back(RecordedRequest{req.method, req.path, {req.params.begin(), req.params.end()},
                                        req.get_header_value("Authorization")});
    cv_.notify_all();
    if (!token_.empty() && req.get_header_value("Authorization") != "Bearer " + token_) {
      res.status = 401;
      res.set_content(status_json(401, "Unauthorized", "Unauthorized"), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    if (forbidden_.count({req.path, token}) || forbidden_.count({req.path, ""})) {
      // The API server's wording for a missing RBAC rule.
      const std::string plural = req.path.substr(req.path.rfind('/') + 1);
      const std::string verb = req.has_param("watch") ? "watch" : "list";
      res.status = 403;
      res.set_content(status_json(403, "Forbidden",
                                  plural + " is forbidden: User \"system:serviceaccount:kube-system:bpfence\" cannot " +
                                      verb + " resource \"" + plural + "\" at the cluster scope"),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  for (const auto& path : {kNamespaces, kPods, kPolicies, kClusterPolicies}) {
    server_->Get(path, [this, path](const httplib::Request& req, httplib::Response& res) { handle(req, res, path); });
  }
  if (port > 0) {
    if (!server_->bind_to_port("127.0.0.1", port)) throw std::runtime_error("fake api server: cannot bind port " + std::to_string(port));
    port_ = port;
  } else {
    port_ = server_->bind_to_any_port("127.0.0.1");
  }
  if (port_ <= 0) throw std::runtime_error("fake api server: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs: wait for it.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::string FakeApiServer::status_json(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
              {"message", message}, {"reason", reason},   {"code", code}}
      .dump();
}

static std::string key_of_json(const std::string& path, const json& object) {
  const json& meta = object.at("metadata");
  if (path == kNamespaces || path == kClusterPolicies) return meta.at("name").get<std::string>();
  return meta.value("namespace", std::string("default")) + "/" + meta.at("name").get<std::string>();
}

// The watch event line of a stored item: the object gets its kind and
// apiVersion back (list items carry neither).
static std::string event_line(const std::string& type, const std::string& kind, const std::string& api_version,
                              const json& item) {
  std::string object = item.dump();
  std::string head = R"({"type":)" + json(type).dump() + R"(,"object":{"apiVersion":)" + json(api_version).dump() +
                     R"(,"kind":)" + json(kind).dump();
  if (object.size() > 2) head += ",";
  return head + object.substr(1) + "}";
}

void FakeApiServer::set_history_limit(size_t events) { history_limit_ = std::max<size_t>(1, events); }

void FakeApiServer::publish(Resource& r, uint64_t rv, std::string type, std::string line) {
  r.log.push_back(Event{rv, std::move(type), std::make_shared<const std::string>(std::move(line))});
  // Compaction as the history slides: a watch from before the oldest event
  // kept cannot be served.
  const size_t limit = history_limit_;
  while (r.log.size() > limit) {
    r.compacted = std::max(r.compacted, r.log.front().rv);
    r.log.pop_front();
    ++r.log_base;
  }
}

void FakeApiServer::upsert(const std::string& path, json object, bool record) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  object.erase("kind");
  object.erase("apiVersion");
  const std::string key = key_of_json(path, object);
  uint64_t rv;
  {
    std::lock_guard lock(r.mu);
    rv = ++rv_;
    r.pending_rv = rv;  // lists until it is published are from before it
  }
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  // Only this writer changes objects: reading them without r.mu is safe.
  const bool existed = r.objects.count(key) > 0;
  std::string line = record ? event_line(existed ? "MODIFIED" : "ADDED", r.kind, r.api_version, object) : "";
  auto item = std::make_shared<const json>(std::move(object));
  {
    std::lock_guard lock(r.mu);
    // The old item is freed after the lock (unless a list still holds it).
    item.swap(r.objects[key]);
    if (record) publish(r, rv, existed ? "MODIFIED" : "ADDED", std::move(line));
    r.pending_rv = 0;
  }
  r.cv.notify_all();
}

void FakeApiServer::remove(const std::string& path, const std::string& key, bool record) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  auto it = r.objects.find(key);
  if (it == r.objects.end()) return;
  json object = *it->second;
  std::shared_ptr<const json> old;  // freed after the lock
  uint64_t rv;
  {
    std::lock_guard lock(r.mu);
    rv = ++rv_;
    r.pending_rv = rv;
  }
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  std::string line = record ? event_line("DELETED", r.kind, r.api_version, object) : "";
  {
    std::lock_guard lock(r.mu);
    old = std::move(it->second);
    r.objects.erase(it);
    if (record) publish(r, rv, "DELETED", std::move(line));
    r.pending_rv = 0;
  }
  r.cv.notify_all();
}

uint64_t FakeApiServer::bookmark(const std::string& path) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  uint64_t rv;
  {
    std::lock_guard lock(r.mu);
    rv = ++rv_;
    publish(r, rv, "BOOKMARK",
            json{{"type", "BOOKMARK"},
                 {"object",
                  {{"kind", r.kind}, {"apiVersion", r.api_version}, {"metadata", {{"resourceVersion", std::to_string(rv)}}}}}}
                .dump());
  }
  r.cv.notify_all();
  return rv;
}

void FakeApiServer::inject_line(const std::string& path, const std::string& line) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  {
    std::lock_guard lock(r.mu);
    publish(r, rv_, "RAW", line);
  }
  r.cv.notify_all();
}

void FakeApiServer::wake_all_streams() {
  for (auto& [path, r] : resources_) {
    // Taking the lock orders the change before a stream's next check.
    { std::lock_guard lock(r->mu); }
    r->cv.notify_all();
  }
}

void FakeApiServer::expire(const std::string& path, GoneMode mode) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  {
    std::lock_guard lock(r.mu);
    // The history up to now is gone; a list made after this serves rv_.
    r.compacted = ++rv_;
    r.gone_mode = mode;
    ++r.expire_generation;
    r.snapshots.clear();
  }
  r.cv.notify_all();
}

void FakeApiServer::cut_streams() {
  ++cut_generation_;
  wake_all_streams();
}

void FakeApiServer::cut_next_event(const std::string& path) {
  Resource& r = resource(path);
  std::lock_guard lock(r.mu);
  r.cut_from = rv_ + 1;
}

void FakeApiServer::end_streams() {
  ++end_generation_;
  wake_all_streams();
}

void FakeApiServer::expire_next_continue() {
  std::lock_guard lock(mu_);
  expire_next_continue_ = true;
}

void FakeApiServer::set_split_events(bool on) { split_events_ = on; }

void FakeApiServer::set_token(const std::string& token) {
  std::lock_guard lock(mu_);
  token_ = token;
}

void FakeApiServer::forbid(const std::string& path, const std::string& token) {
  std::lock_guard lock(mu_);
  forbidden_.emplace(path, token);
}

void FakeApiServer::set_served(const std::string& path, bool served) {
  Resource& r = resource(path);
  std::lock_guard writer(r.write_mu);
  {
    std::lock_guard lock(r.mu);
    r.served = served;
    if (!served) {
      // Deleting a CRD deletes its objects; their history goes too.
      r.objects.clear();
      r.log_base += r.log.size();
      r.log.clear();
      r.snapshots.clear();
      r.compacted = ++rv_;
    }
  }
  r.cv.notify_all();
}

uint64_t FakeApiServer::resource_version() const { return rv_; }

std::vector<RecordedRequest> FakeApiServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> FakeApiServer::requests(const std::string& path, bool watch) const {
  std::vector<RecordedRequest> out;
  for (auto& r : requests())
    if (r.path == path && r.watch() == watch) out.push_back(r);
  return out;
}

int FakeApiServer::active_streams(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = active_.find(path);
  return it == active_.end() ? 0 : it->second;
}

bool FakeApiServer::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    // Short waits: a notify between pred() and the wait must not be lost.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void FakeApiServer::handle(const httplib::Request& req, httplib::Response& res, const std::string& path) {
  Resource& r = resource(path);
  std::unique_lock lock(r.mu);
  if (!r.served) {
    res.status = 404;
    res.set_content(status_json(404, "NotFound", "the server could not find the requested resource"),
                    "application/json");
    return;
  }
  if (req.has_param("watch") && (req.get_param_value("watch") == "1" || req.get_param_value("watch") == "true"))
    handle_watch(req, res, path, r);
  else
    handle_list(req, res, r, lock);
}

// Under r.mu until the snapshot is taken; the page is encoded outside it.
void FakeApiServer::handle_list(const httplib::Request& req, httplib::Response& res, Resource& r,
                                std::unique_lock<std::mutex>& lock) {
  // Continue tokens stay valid for this many newer lists of the resource.
  constexpr size_t kSnapshotsKept = 8;
  const size_t limit = req.has_param("limit") ? std::stoul(req.get_param_value("limit")) : 0;
  // A write in flight has its rv but is not in objects yet: list before it.
  uint64_t list_rv = r.pending_rv ? r.pending_rv - 1 : rv_.load();
  size_t offset = 0;
  std::shared_ptr<const Snapshot> snapshot;
  if (req.has_param("continue")) {
    // Token: "<list rv>:<offset>".
    const std::string token = req.get_param_value("continue");
    const size_t colon = token.find(':');
    list_rv = std::stoull(token.substr(0, colon));
    offset = std::stoul(token.substr(colon + 1));
    bool expired;
    {
      std::lock_guard lock(mu_);
      expired = std::exchange(expire_next_continue_, false);
    }
    if (expired || !r.snapshots.count(list_rv)) {
      res.status = 410;
      res.set_content(status_json(410, "Expired", "The provided continue parameter is too old"), "application/json");
      return;
    }
    snapshot = r.snapshots.at(list_rv);
  } else {
    auto items = std::make_shared<Snapshot>();
    items->reserve(r.objects.size());
    for (const auto& [key, object] : r.objects) items->push_back(object);
    snapshot = r.snapshots[list_rv] = std::move(items);
    while (r.snapshots.size() > kSnapshotsKept) r.snapshots.erase(r.snapshots.begin());
  }
  const std::string kind = r.kind, api_version = r.api_version;
  lock.unlock();
  const size_t end = limit == 0 ? snapshot->size() : std::min(snapshot->size(), offset + limit);
  json metadata{{"resourceVersion", std::to_string(list_rv)}};
  if (end < snapshot->size()) metadata["continue"] = std::to_string(list_rv) + ":" + std::to_string(end);
  std::string body = R"({"apiVersion":)" + json(api_version).dump() + R"(,"items":[)";
  for (size_t i = offset; i < end; ++i) {
    if (i > offset) body += ",";
    body += (*snapshot)[i]->dump();
  }
  body += R"(],"kind":)" + json(kind + "List").dump() + R"(,"metadata":)" + metadata.dump() + "}";
  res.set_content(body, "application/json");
}

void FakeApiServer::handle_watch(const httplib::Request& req, httplib::Response& res, const std::string& path,
                                 Resource& r) {
  auto st = std::make_shared<Stream>();
  st->path = path;
  st->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
  const uint64_t from = req.has_param("resourceVersion") ? std::stoull(req.get_param_value("resourceVersion"))
                                                         : (r.pending_rv ? r.pending_rv - 1 : rv_.load());
  if (from < r.compacted) {
    if (r.gone_mode == GoneMode::HttpStatus) {
      res.status = 410;
      res.set_content(status_json(410, "Expired", "too old resource version"), "application/json");
      return;
    }
    // What a real API server does: 200, then an ERROR event with code 410.
    st->gone_first = true;
  }
  // The log is in rv order: the first event after `from`.
  st->next = r.log_base + (std::partition_point(r.log.begin(), r.log.end(), [&](const Event& e) { return e.rv <= from; }) -
                           r.log.begin());
  st->cut_generation = cut_generation_;
  st->end_generation = end_generation_;
  st->expire_generation = r.expire_generation;
  const int timeout = req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 1800;
  st->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  {
    std::lock_guard global(mu_);  // the lock order: a resource's mu, then mu_
    ++active_[path];
  }
  cv_.notify_all();

  res.set_chunked_content_provider(
      "application/json",
      [this, st](size_t, httplib::DataSink& sink) {
        Resource& r = resource(st->path);
        std::unique_lock lock(r.mu);
        for (;;) {
          if (stopping_ || st->cut_generation != cut_generation_) return false;
          if (!r.served) {  // the CRD was deleted: the server ends its watches
            lock.unlock();
            sink.done();
            return true;
          }
          if (st->gone_first || st->expire_generation != r.expire_generation) {
            const bool error_event = st->gone_first || r.gone_mode == GoneMode::ErrorEvent;
            lock.unlock();
            if (error_event) {
              std::string line = R"({"type":"ERROR","object":)" +
                                 status_json(410, "Expired", "too old resource version") + "}\n";
              sink.write(line.data(), line.size());
            }
            sink.done();
            return true;
          }
          if (st->end_generation != end_generation_ || std::chrono::steady_clock::now() >= st->deadline ||
              st->next < r.log_base) {
            // Also a stream too far behind (its next event compacted away),
            // as a real API server closes a watcher that does not keep up:
            // the client rewatches from its last rv and gets 410.
            lock.unlock();
            sink.done();
            return true;
          }
          const uint64_t log_end = r.log_base + r.log.size();
          while (st->next < log_end && r.log[st->next - r.log_base].type == "BOOKMARK" && !st->bookmarks) ++st->next;
          if (st->next < log_end) {
            const Event& event = r.log[st->next++ - r.log_base];
            const std::shared_ptr<const std::string> line = event.line;
            const bool cut = r.cut_from != 0 && event.rv >= r.cut_from;
            if (cut) r.cut_from = 0;
            const bool split = split_events_;
            lock.unlock();
            const std::string text = *line + "\n";
            if (cut) {
              sink.write(text.data(), text.size() / 2);
              return false;
            }
            if (split) {
              const size_t third = std::max<size_t>(1, text.size() / 3);
              return sink.write(text.data(), third) && sink.write(text.data() + third, third) &&
                     sink.write(text.data() + 2 * third, text.size() - 2 * third);
            }
            return sink.write(text.data(), text.size());
          }
          r.cv.wait_for(lock, std::chrono::milliseconds(50));
        }
      },
      [this, path](bool) {
        {
          std::lock_guard lock(mu_);
          --active_[path];
        }
        cv_.notify_all();
      });
}

}  // namespace bpfence::test
