// List-then-watch for one resource: pagination, resourceVersion tracking,
// 410 handling, reconnect policy. Decoding of objects is the parser's
// (decode_object); this file only knows the protocol.
#include "api_reflector.h"

#include <set>
#include <utility>

namespace bpfence {
namespace {

// A value for a log line: quoted when it has spaces or quotes.
std::string log_value(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \"=") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

std::string metadata_string(const nlohmann::json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(field);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

const std::vector<ApiResource>& api_resources() {
  static const std::vector<ApiResource> resources = {
      {"Namespace", "v1", "/api/v1/namespaces"},
      {"Pod", "v1", "/api/v1/pods"},
      {"NetworkPolicy", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1/networkpolicies"},
      {"ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2",
       "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies", /*optional=*/true,
       "policy.networking.k8s.io/v1alpha2"},
  };
  return resources;
}

std::string api_object_key(const ApiResource& resource, const nlohmann::json& object) {
  std::string name = metadata_string(object, "name");
  if (name.empty()) return "";
  if (resource.kind == "Namespace" || resource.kind == "ClusterNetworkPolicy") return name;
  std::string ns = metadata_string(object, "namespace");
  return (ns.empty() ? "default" : ns) + "/" + name;
}

Reflector::Reflector(ApiResource resource, ApiClient& client, const ApiSourceOptions& options, Deliver deliver, Log log)
    : resource_(std::move(resource)),
      client_(client),
      options_(options),
      deliver_(std::move(deliver)),
      log_(std::move(log)),
      reconnect_backoff_(options.backoff_initial, options.backoff_max),
      error_backoff_(options.error_backoff_initial, options.error_backoff_max) {}

Reflector::Health Reflector::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

std::string Reflector::absent_note() const {
  std::lock_guard lock(health_mutex_);
  return absent_note_;
}

void Reflector::absent(const ApiResponse& response) {
  set_ok();  // the server answered as a server without the CRD does
  const bool was_absent = absent_;
  absent_ = true;
  const long every = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(options_.absent_recheck).count());
  const std::string note = resource_.kind + ": not served by the API server (list " + resource_.path + ": HTTP " +
                           std::to_string(response.status) + "): no " + resource_.group +
                           " CRD installed; running without this kind, checking again every " +
                           std::to_string(every) + "s";
  {
    std::lock_guard lock(health_mutex_);
    absent_note_ = note;
  }
  if (was_absent) return;
  info("kind not served by the API server; running without it", "reason=" + log_value(note));
  // Never listed: the empty list is this kind's part of the initial state.
  // Listed before: the CRD went, and its objects with it.
  SourceUpdate update;
  update.resync_kind = resource_.kind;
  const bool initial = !listed_once_;
  listed_once_ = true;
  deliver_(std::move(update), initial);
}

void Reflector::set_ok() {
  {
    std::lock_guard lock(health_mutex_);
    health_ = Health{};
  }
  if (!reported_auth_.empty()) {
    info("kubernetes api accepts the agent's credentials again");
    reported_auth_.clear();
  }
}

static bool is_auth(const std::string& state) { return state == "unauthorized" || state == "forbidden"; }

void Reflector::set_failed(const Failure& failure) {
  {
    std::lock_guard lock(health_mutex_);
    if (health_.ok) health_.since = std::chrono::steady_clock::now();
    health_.ok = false;
    health_.state = failure.state;
    health_.error = failure.message;
  }
  // Refused credentials are an operator's problem, not a blip: said once at
  // error level when they start (or change), not on every retry.
  if (is_auth(failure.state) && failure.message != reported_auth_) {
    log_("level=error msg=" + log_value("kubernetes api refused the agent's credentials") + " kind=" +
         resource_.kind + " reason=" + log_value(failure.message) + " err=" + log_value(failure.detail));
    reported_auth_ = failure.message;
  }
}

Reflector::Failure Reflector::failure_of(const ApiResponse& response, const std::string& verb) const {
  const std::string plural = resource_.path.substr(resource_.path.rfind('/') + 1);
  Failure f;
  f.detail = response.describe();
  if (!response.transport_error.empty()) {
    f.state = "unreachable";
  } else if (response.status == 401) {
    f.state = "unauthorized";
    f.message = "unauthorized: the API server does not accept the agent's credentials (HTTP 401): check its token "
                "(the token file, or the kubeconfig's token, is read again before every retry)";
    return f;
  } else if (response.status == 403) {
    f.state = "forbidden";
    f.message = "forbidden: cannot " + verb + " " + plural +
                " at cluster scope (HTTP 403): check the ClusterRole bound to the agent's service account";
    return f;
  } else {
    f.state = "error";
  }
  f.message = verb + " " + resource_.path + ": " + f.detail;
  return f;
}

void Reflector::info(const std::string& msg, const std::string& extra) {
  log_("level=info msg=" + log_value(msg) + " kind=" + resource_.kind + (extra.empty() ? "" : " " + extra));
}

void Reflector::warn(const std::string& msg, const std::string& extra) {
  log_("level=warn msg=" + log_value(msg) + " kind=" + resource_.kind + (extra.empty() ? "" : " " + extra));
}

bool Reflector::fail(std::stop_token stop) {
  set_failed(failure_);
  Backoff& backoff = failure_.state == "unreachable" ? reconnect_backoff_ : error_backoff_;
  return pause(stop, backoff, failure_.message, is_auth(failure_.state));
}

bool Reflector::pause(std::stop_token stop, Backoff& backoff, const std::string& why, bool auth) {
  const auto delay = backoff.next();
  // Refused credentials were logged once at error level; each retry is detail.
  log_(std::string(auth ? "level=debug" : "level=warn") + " msg=" + log_value("retrying after backoff") +
       " kind=" + resource_.kind + " delay_ms=" + std::to_string(delay.count()) + " err=" + log_value(why));
  std::unique_lock lock(sleep_mutex_);
  if (!auth) {
    sleep_cv_.wait_for(lock, stop, delay, [] { return false; });
    return !stop.stop_requested();
  }
  // A fixed token is tried at once rather than after the rest of the wait.
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < until && !client_.credentials_changed()) {
    const auto slice = std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100),
                                                                     until - std::chrono::steady_clock::now());
    sleep_cv_.wait_for(lock, stop, slice, [] { return false; });
  }
  return !stop.stop_requested();
}

void Reflector::run(std::stop_token stop) {
  bool need_list = true;
  int relists_in_a_row = 0;
  while (!stop.stop_requested()) {
    try {
      if (need_list) {
        if (auto s = list(stop); !s) {
          if (stop.stop_requested()) return;
          if (!fail(stop)) return;
          continue;
        }
        reconnect_backoff_.reset();
        error_backoff_.reset();
        if (absent_) {
          // Nothing to watch: look for the CRD again later.
          std::unique_lock lock(sleep_mutex_);
          sleep_cv_.wait_for(lock, stop, options_.absent_recheck, [] { return false; });
          continue;
        }
        need_list = false;
      }
      const WatchEnd end = watch(stop);
      if (watch_saw_events_) relists_in_a_row = 0;
      switch (end) {
        case WatchEnd::Stopped:
          return;
        case WatchEnd::Closed:
          // A watch that ran its course: reconnect at once from where it ended.
          relists_in_a_row = 0;
          reconnect_backoff_.reset();
          error_backoff_.reset();
          break;
        case WatchEnd::Gone:
          need_list = true;
          // One relist is routine; a server that expires every fresh watch
          // must not make us relist in a tight loop.
          if (relists_in_a_row++ > 0 &&
              !pause(stop, error_backoff_, "resourceVersion expired again right after a relist"))
            return;
          break;
        case WatchEnd::Failed:
          if (!fail(stop)) return;
          break;
      }
    } catch (const std::exception& e) {
      // Nothing in here should throw; if something does, keep the thread
      // (and the agent) alive and start over from a list.
      need_list = true;
      if (!pause(stop, error_backoff_, std::string("unexpected error: ") + e.what())) return;
    }
  }
}

Status Reflector::list(std::stop_token stop) {
  SourceUpdate update;
  update.resync_kind = resource_.kind;
  std::string continue_token, resource_version;
  int restarts = 0, pages = 0;
  // An answer that is not a list: the server is up but broken.
  auto bad_answer = [&](const std::string& why) {
    failure_ = Failure{"error", "list " + resource_.path + ": " + why, why};
    return Status::error(failure_.message);
  };
  for (;;) {
    if (stop.stop_requested()) return Status::error("stopped");
    ApiClient::Query query{{"limit", std::to_string(options_.page_limit)}};
    if (!continue_token.empty()) query.emplace("continue", continue_token);
    ApiResponse response = client_.get(resource_.path, query, options_.list_read_timeout);
    if (response.transport_error.empty() && response.status == 410 && !continue_token.empty() && restarts < 3) {
      // The continue token outlived etcd's compaction: the snapshot the
      // pages came from is gone, so start the whole list again.
      info("list continue token expired, listing again from the start");
      ++restarts;
      continue_token.clear();
      update.upserts.clear();
      update.errors.clear();
      continue;
    }
    if (resource_.optional && response.transport_error.empty() && response.status == 404) {
      absent(response);
      return Status::ok();
    }
    if (!response.ok()) {
      failure_ = failure_of(response, "list");
      return Status::error(failure_.message);
    }
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_object()) return bad_answer("response is not a JSON object");
    ++pages;
    auto items = body.find("items");
    if (items != body.end() && items->is_array()) {
      for (auto& item : *items) {
        if (!item.is_object()) {
          update.errors.push_back(ParseError{"", resource_.kind + " (list item)", "", "not a JSON object"});
          continue;
        }
        // List items carry no kind or apiVersion; the parser needs them.
        if (!item.contains("kind")) item["kind"] = resource_.kind;
        if (!item.contains("apiVersion")) item["apiVersion"] = resource_.api_version;
        ParseResult parsed = decode_object(item);
        for (auto& o : parsed.objects) update.upserts.push_back(std::move(o));
        for (auto& e : parsed.errors) update.errors.push_back(std::move(e));
      }
    } else if (items != body.end() && !items->is_null()) {
      return bad_answer("items: not an array");
    }
    resource_version = metadata_string(body, "resourceVersion");
    continue_token = metadata_string(body, "continue");
    if (continue_token.empty()) break;
  }
  if (resource_version.empty()) return bad_answer("metadata.resourceVersion: missing");
  resource_version_ = resource_version;
  set_ok();
  if (std::exchange(absent_, false)) {
    {
      std::lock_guard lock(health_mutex_);
      absent_note_.clear();
    }
    info("kind served by the API server now");
  }
  info("listed", "objects=" + std::to_string(update.upserts.size()) + " rejected=" +
                     std::to_string(update.errors.size()) + " pages=" + std::to_string(pages) +
                     " resourceVersion=" + log_value(resource_version));
  for (const ParseError& e : update.errors)
    warn("object rejected; its last good version stays in force",
         "object=" + log_value(e.object) + " field=" + log_value(e.field) + " err=" + log_value(e.message));
  const bool initial = !listed_once_;
  listed_once_ = true;
  deliver_(std::move(update), initial);
  return Status::ok();
}

std::optional<Reflector::WatchEnd> Reflector::apply(std::vector<WatchEvent>& events, std::vector<std::string>& errors,
                                                    bool& got_event) {
  SourceUpdate batch;
  std::set<std::string> keys;  // in `batch`: an object seen twice starts a new batch, keeping order
  auto flush = [&] {
    for (const ParseError& e : batch.errors)
      warn("object rejected; its last good version stays in force",
           "object=" + log_value(e.object) + " field=" + log_value(e.field) + " err=" + log_value(e.message));
    if (!batch.upserts.empty() || !batch.deletes.empty() || !batch.errors.empty()) deliver_(std::move(batch), false);
    batch = SourceUpdate{};
    keys.clear();
  };
  auto take_key = [&](const std::string& key) {
    if (!keys.insert(key).second) {
      flush();
      keys.insert(key);
    }
  };
  for (auto& event : events) {
    std::string rv = metadata_string(event.object, "resourceVersion");
    switch (event.type) {
      case WatchEvent::Type::Bookmark:
        break;
      case WatchEvent::Type::Error: {
        flush();
        const int code = event.object.value("code", 0);
        const std::string message = event.object.value("message", std::string());
        if (code == 410) {
          info("watch expired (410 Gone), relisting", "resourceVersion=" + log_value(resource_version_) +
                                                           " err=" + log_value(message));
          return WatchEnd::Gone;
        }
        warn("watch error event", "code=" + std::to_string(code) + " err=" + log_value(message));
        const std::string what = "ERROR event " + std::to_string(code) + ": " + message;
        failure_ = Failure{"error", "watch " + resource_.path + ": " + what, what};
        return WatchEnd::Failed;
      }
      case WatchEvent::Type::Added:
      case WatchEvent::Type::Modified:
      case WatchEvent::Type::Deleted: {
        got_event = true;
        const std::string key = api_object_key(resource_, event.object);
        if (key.empty()) {
          batch.errors.push_back(ParseError{"", resource_.kind + " (watch event)", "metadata.name", "missing"});
          break;
        }
        take_key(key);
        if (event.type == WatchEvent::Type::Deleted) {
          // Not parsed: an object the parser would reject must still go.
          batch.deletes.push_back(ObjectKey{resource_.kind, key});
          break;
        }
        if (!event.object.contains("kind")) event.object["kind"] = resource_.kind;
        if (!event.object.contains("apiVersion")) event.object["apiVersion"] = resource_.api_version;
        ParseResult parsed = decode_object(event.object);
        for (auto& o : parsed.objects) batch.upserts.push_back(std::move(o));
        for (auto& e : parsed.errors) batch.errors.push_back(std::move(e));
        break;
      }
    }
    if (!rv.empty()) resource_version_ = rv;
  }
  if (!errors.empty()) {
    // An unreadable event may have been a change we now miss: report it and
    // relist to get back to a known state.
    for (auto& e : errors) batch.errors.push_back(ParseError{"", resource_.kind + " watch " + resource_.path, "", e});
    flush();
    warn("unreadable watch event, relisting", "err=" + log_value(errors.front()));
    return WatchEnd::Gone;
  }
  flush();
  return std::nullopt;
}

Reflector::WatchEnd Reflector::watch(std::stop_token stop) {
  decoder_.reset();
  ApiClient::Query query{{"watch", "1"},
                         {"allowWatchBookmarks", "true"},
                         {"resourceVersion", resource_version_},
                         {"timeoutSeconds", std::to_string(options_.watch_timeout.count())}};
  std::optional<WatchEnd> verdict;
  bool got_event = false;
  std::vector<WatchEvent> events;
  std::vector<std::string> errors;
  const auto started = std::chrono::steady_clock::now();
  ApiResponse response = client_.stream(resource_.path, query, options_.watch_timeout + options_.watch_read_margin,
                                        [&](std::string_view data) {
                                          if (stop.stop_requested()) {
                                            verdict = WatchEnd::Stopped;
                                            return false;
                                          }
                                          // Events flow: the server took our token and version.
                                          reconnect_backoff_.reset();
                                          error_backoff_.reset();
                                          events.clear();
                                          errors.clear();
                                          decoder_.feed(data, events, errors);
                                          verdict = apply(events, errors, got_event);
                                          return !verdict;
                                        },
                                        [&](int status) {
                                          // The server answers: whatever comes next, it is reachable.
                                          if (status == 200) set_ok();
                                        });
  watch_saw_events_ = got_event;
  if (stop.stop_requested()) return WatchEnd::Stopped;
  if (verdict) return *verdict;
  if (!response.transport_error.empty()) {
    warn("watch connection lost", "resourceVersion=" + log_value(resource_version_) +
                                      " pending_bytes=" + std::to_string(decoder_.pending()) +
                                      " err=" + log_value(response.transport_error));
    failure_ = failure_of(response, "watch");
    return WatchEnd::Failed;
  }
  if (resource_.optional && response.status == 404) {
    // The CRD went away under the watch: the list says so.
    info("watch answered 404, relisting", "err=" + log_value(response.describe()));
    return WatchEnd::Gone;
  }
  if (response.status == 410) {
    info("watch expired (HTTP 410), relisting", "resourceVersion=" + log_value(resource_version_));
    return WatchEnd::Gone;
  }
  if (response.status != 200) {
    failure_ = failure_of(response, "watch");
    // Refused credentials are logged by set_failed(), once.
    if (!is_auth(failure_.state)) warn("watch refused", "err=" + log_value(response.describe()));
    return WatchEnd::Failed;
  }
  if (decoder_.pending() > 0) {
    warn("watch ended mid-event", "pending_bytes=" + std::to_string(decoder_.pending()));
    failure_ = Failure{"unreachable", "watch " + resource_.path + ": ended in the middle of an event", ""};
    return WatchEnd::Failed;
  }
  // A server that ends every watch at once must not make us spin.
  if (!got_event && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
    failure_ = Failure{"error", "watch " + resource_.path + ": the server ends every watch at once", ""};
    return WatchEnd::Failed;
  }
  return WatchEnd::Closed;
}

}  // namespace bpfence
