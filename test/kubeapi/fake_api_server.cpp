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
  size_t next = 0;  // index into the resource's log
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
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeApiServer::url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }

void FakeApiServer::setup(int port) {
  resources_[kNamespaces] = Resource{"Namespace", "v1"};
  resources_[kPods] = Resource{"Pod", "v1"};
  resources_[kPolicies] = Resource{"NetworkPolicy", "networking.k8s.io/v1"};
  resources_[kClusterPolicies] = Resource{"ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2"};
  resources_[kClusterPolicies].served = false;  // as a cluster without the CRD

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

void FakeApiServer::append_event(Resource& r, const std::string& type, json object) {
  r.log.push_back(Event{rv_, type, json{{"type", type}, {"object", std::move(object)}}.dump()});
}

void FakeApiServer::upsert(const std::string& path, json object, bool record) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_.at(path);
    object["kind"] = r.kind;
    object["apiVersion"] = r.api_version;
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    const std::string key = key_of_json(path, object);
    const bool existed = r.objects.count(key) > 0;
    r.objects[key] = object;
    if (record) append_event(r, existed ? "MODIFIED" : "ADDED", std::move(object));
  }
  cv_.notify_all();
}

void FakeApiServer::remove(const std::string& path, const std::string& key, bool record) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_.at(path);
    auto it = r.objects.find(key);
    if (it == r.objects.end()) return;
    json object = it->second;
    r.objects.erase(it);
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    if (record) append_event(r, "DELETED", std::move(object));
  }
  cv_.notify_all();
}

uint64_t FakeApiServer::bookmark(const std::string& path) {
  uint64_t rv;
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_.at(path);
    rv = ++rv_;
    append_event(r, "BOOKMARK",
                 json{{"kind", r.kind}, {"apiVersion", r.api_version}, {"metadata", {{"resourceVersion", std::to_string(rv)}}}});
  }
  cv_.notify_all();
  return rv;
}

void FakeApiServer::inject_line(const std::string& path, const std::string& line) {
  {
    std::lock_guard lock(mu_);
    resources_.at(path).log.push_back(Event{rv_, "RAW", line});
  }
  cv_.notify_all();
}

void FakeApiServer::expire(const std::string& path, GoneMode mode) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_.at(path);
    // The history up to now is gone; a list made after this serves rv_.
    r.compacted = ++rv_;
    r.gone_mode = mode;
    ++r.expire_generation;
    r.snapshots.clear();
  }
  cv_.notify_all();
}

void FakeApiServer::cut_streams() {
  {
    std::lock_guard lock(mu_);
    ++cut_generation_;
  }
  cv_.notify_all();
}

void FakeApiServer::cut_next_event(const std::string& path) {
  std::lock_guard lock(mu_);
  resources_.at(path).cut_from = rv_ + 1;
}

void FakeApiServer::end_streams() {
  {
    std::lock_guard lock(mu_);
    ++end_generation_;
  }
  cv_.notify_all();
}

void FakeApiServer::expire_next_continue() {
  std::lock_guard lock(mu_);
  expire_next_continue_ = true;
}

void FakeApiServer::set_split_events(bool on) {
  std::lock_guard lock(mu_);
  split_events_ = on;
}

void FakeApiServer::set_token(const std::string& token) {
  std::lock_guard lock(mu_);
  token_ = token;
}

void FakeApiServer::forbid(const std::string& path, const std::string& token) {
  std::lock_guard lock(mu_);
  forbidden_.emplace(path, token);
}

void FakeApiServer::set_served(const std::string& path, bool served) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_.at(path);
    r.served = served;
    if (!served) {
      // Deleting a CRD deletes its objects; their history goes too.
      r.objects.clear();
      r.log.clear();
      r.snapshots.clear();
      r.compacted = ++rv_;
    }
  }
  cv_.notify_all();
}

uint64_t FakeApiServer::resource_version() const {
  std::lock_guard lock(mu_);
  return rv_;
}

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
  std::lock_guard lock(mu_);
  Resource& r = resources_.at(path);
  if (!r.served) {
    res.status = 404;
    res.set_content(status_json(404, "NotFound", "the server could not find the requested resource"),
                    "application/json");
    return;
  }
  if (req.has_param("watch") && (req.get_param_value("watch") == "1" || req.get_param_value("watch") == "true"))
    handle_watch(req, res, path, r);
  else
    handle_list(req, res, r);
}

void FakeApiServer::handle_list(const httplib::Request& req, httplib::Response& res, Resource& r) {
  const size_t limit = req.has_param("limit") ? std::stoul(req.get_param_value("limit")) : 0;
  uint64_t list_rv = rv_;
  size_t offset = 0;
  if (req.has_param("continue")) {
    // Token: "<list rv>:<offset>".
    const std::string token = req.get_param_value("continue");
    const size_t colon = token.find(':');
    list_rv = std::stoull(token.substr(0, colon));
    offset = std::stoul(token.substr(colon + 1));
    if (std::exchange(expire_next_continue_, false) || !r.snapshots.count(list_rv)) {
      res.status = 410;
      res.set_content(status_json(410, "Expired", "The provided continue parameter is too old"), "application/json");
      return;
    }
  } else {
    std::vector<json> items;
    for (const auto& [key, object] : r.objects) {
      json item = object;
      // Like the real server: list items carry no kind or apiVersion.
      item.erase("kind");
      item.erase("apiVersion");
      items.push_back(std::move(item));
    }
    r.snapshots[list_rv] = std::move(items);
  }
  const auto& snapshot = r.snapshots.at(list_rv);
  const size_t end = limit == 0 ? snapshot.size() : std::min(snapshot.size(), offset + limit);
  json body{{"kind", r.kind + "List"},
            {"apiVersion", r.api_version},
            {"metadata", {{"resourceVersion", std::to_string(list_rv)}}},
            {"items", json::array()}};
  for (size_t i = offset; i < end; ++i) body["items"].push_back(snapshot[i]);
  if (end < snapshot.size()) body["metadata"]["continue"] = std::to_string(list_rv) + ":" + std::to_string(end);
  res.set_content(body.dump(), "application/json");
}

void FakeApiServer::handle_watch(const httplib::Request& req, httplib::Response& res, const std::string& path,
                                 Resource& r) {
  auto st = std::make_shared<Stream>();
  st->path = path;
  st->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
  const uint64_t from = req.has_param("resourceVersion") ? std::stoull(req.get_param_value("resourceVersion")) : rv_;
  if (from < r.compacted) {
    if (r.gone_mode == GoneMode::HttpStatus) {
      res.status = 410;
      res.set_content(status_json(410, "Expired", "too old resource version"), "application/json");
      return;
    }
    // What a real API server does: 200, then an ERROR event with code 410.
    st->gone_first = true;
  }
  while (st->next < r.log.size() && r.log[st->next].rv <= from) ++st->next;
  st->cut_generation = cut_generation_;
  st->end_generation = end_generation_;
  st->expire_generation = r.expire_generation;
  const int timeout = req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 1800;
  st->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  ++active_[path];

  res.set_chunked_content_provider(
      "application/json",
      [this, st](size_t, httplib::DataSink& sink) {
        std::unique_lock lock(mu_);
        for (;;) {
          if (stopping_ || st->cut_generation != cut_generation_) return false;
          Resource& r = resources_.at(st->path);
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
          if (st->end_generation != end_generation_ || std::chrono::steady_clock::now() >= st->deadline) {
            lock.unlock();
            sink.done();
            return true;
          }
          while (st->next < r.log.size() && r.log[st->next].type == "BOOKMARK" && !st->bookmarks) ++st->next;
          if (st->next < r.log.size()) {
            const Event& event = r.log[st->next++];
            const std::string line = event.line + "\n";
            const bool cut = r.cut_from != 0 && event.rv >= r.cut_from;
            if (cut) r.cut_from = 0;
            const bool split = split_events_;
            lock.unlock();
            if (cut) {
              sink.write(line.data(), line.size() / 2);
              return false;
            }
            if (split) {
              const size_t third = std::max<size_t>(1, line.size() / 3);
              return sink.write(line.data(), third) && sink.write(line.data() + third, third) &&
                     sink.write(line.data() + 2 * third, line.size() - 2 * third);
            }
            return sink.write(line.data(), line.size());
          }
          cv_.wait_for(lock, std::chrono::milliseconds(50));
        }
      },
      [this, path](bool) {
        std::lock_guard lock(mu_);
        --active_[path];
        cv_.notify_all();
      });
}

}  // namespace bpfence::test
