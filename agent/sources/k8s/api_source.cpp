// ApiSource: one Reflector thread per resource, a mutex so the sink sees
// one update at a time, and a stop that does not wait for a silent watch.
#include "api_source.h"

#include <algorithm>
#include <condition_variable>
#include <iostream>

#include "api_client.h"
#include "api_reflector.h"

namespace bpfence {

struct ApiSource::Worker {
  ApiResource resource;
  std::unique_ptr<ApiClient> client;
  std::unique_ptr<Reflector> reflector;
  std::jthread thread;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;  // guarded by mutex
};

ApiSource::ApiSource(KubeConfig config, ApiSourceOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

ApiSource::~ApiSource() { stop(); }

Status ApiSource::create(const KubeConfig& config, ApiSourceOptions options, std::unique_ptr<ApiSource>& out) {
  std::unique_ptr<ApiSource> source(new ApiSource(config, std::move(options)));
  ApiClientOptions client_options;
  client_options.connect_timeout = source->options_.connect_timeout;
  for (const auto& resource : api_resources()) {
    auto worker = std::make_unique<Worker>();
    worker->resource = resource;
    // A client per thread: httplib clients are not meant to be shared by
    // concurrent requests, and each watch holds its connection for minutes.
    if (auto s = ApiClient::create(config, client_options, worker->client); !s) return s;
    source->workers_.push_back(std::move(worker));
  }
  out = std::move(source);
  return Status::ok();
}

void ApiSource::log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  std::cerr << line << "\n";
}

std::string ApiSource::describe() const { return "kubernetes api " + config_.server + " (" + config_.origin + ")"; }

SourceHealth ApiSource::health() const {
  if (!reflectors_ready_.load(std::memory_order_acquire)) return {};
  const auto now = std::chrono::steady_clock::now();
  // Refused credentials first: nothing works until someone fixes them, and
  // they are reported at once. Several resources may be refused alike (a 401
  // is the same for all three): each distinct reason once.
  std::vector<std::string> auth_reasons;
  std::string auth_state, failing;
  bool errors = false;
  long longest = 0;
  for (const auto& w : workers_) {
    if (!w->reflector) continue;
    Reflector::Health h = w->reflector->health();
    if (h.ok) continue;
    if (h.state == "unauthorized" || h.state == "forbidden") {
      if (auth_state != "unauthorized") auth_state = h.state;
      if (std::find(auth_reasons.begin(), auth_reasons.end(), h.error) == auth_reasons.end())
        auth_reasons.push_back(h.error);
      continue;
    }
    if (now - h.since < options_.unhealthy_after) continue;
    longest = std::max(longest, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(now - h.since).count()));
    errors |= h.state == "error";
    failing += (failing.empty() ? "" : "; ") + w->resource.kind + ": " + h.error;
  }
  if (!auth_state.empty()) {
    std::string reason;
    for (const auto& r : auth_reasons) reason += (reason.empty() ? "" : "; ") + r;
    return {auth_state, reason};
  }
  if (failing.empty()) return {};
  // A server that answers errors is up: "unreachable" would send the
  // operator looking at the network.
  return {errors ? "error" : "unreachable", "kubernetes api " + config_.server + (errors ? " failing" : " unreachable") +
                                                " for " + std::to_string(longest) + "s (" + failing + ")"};
}

std::vector<std::string> ApiSource::notes() const {
  std::vector<std::string> out;
  if (!reflectors_ready_.load(std::memory_order_acquire)) return out;
  for (const auto& w : workers_)
    if (w->reflector)
      if (std::string note = w->reflector->absent_note(); !note.empty()) out.push_back(std::move(note));
  return out;
}

void ApiSource::deliver(SourceUpdate update, bool initial_list) {
  std::lock_guard lock(sink_mutex_);
  // Before the sink: the status the agent builds after this update shows
  // its errors.
  rejections_.record(update);
  // The last resource's initial list completes the initial state.
  const bool completes = initial_list && initial_lists_ + 1 == static_cast<int>(workers_.size());
  update.synced = completes;
  if (sink_) sink_(std::move(update));
  // synced() promises the initial state has reached the sink, so count the
  // list only after the sink returned.
  if (initial_list && ++initial_lists_ == static_cast<int>(workers_.size())) synced_ = true;
}

void ApiSource::start(UpdateSink sink) {
  if (started_) return;
  started_ = true;
  {
    std::lock_guard lock(sink_mutex_);
    sink_ = std::move(sink);
  }
  log("level=info msg=\"starting kubernetes api source\" server=" + config_.server);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->reflector = std::make_unique<Reflector>(
        worker->resource, *worker->client, options_,
        [this](SourceUpdate update, bool initial) { deliver(std::move(update), initial); },
        [this](std::string_view line) { log(line); });
    worker->thread = std::jthread([worker](std::stop_token stop) {
      worker->reflector->run(stop);
      std::lock_guard lock(worker->mutex);
      worker->done = true;
      worker->done_cv.notify_all();
    });
  }
  reflectors_ready_.store(true, std::memory_order_release);
}

void ApiSource::stop() {
  for (auto& w : workers_) w->thread.request_stop();
  for (auto& w : workers_) {
    if (!w->thread.joinable()) continue;
    // interrupt() only reaches a request already in flight, and one may be
    // about to start: repeat until the thread has seen the stop request.
    std::unique_lock lock(w->mutex);
    while (!w->done) {
      w->client->interrupt();
      w->done_cv.wait_for(lock, std::chrono::milliseconds(20));
    }
    lock.unlock();
    w->thread.join();
  }
}

}  // namespace bpfence
