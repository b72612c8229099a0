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

std::string ApiSource::health() const {
  const auto now = std::chrono::steady_clock::now();
  std::string out;
  long longest = 0;
  if (!reflectors_ready_.load(std::memory_order_acquire)) return "";
  for (const auto& w : workers_) {
    if (!w->reflector) continue;
    Reflector::Health h = w->reflector->health();
    if (h.ok || now - h.since < options_.unhealthy_after) continue;
    long secs = std::chrono::duration_cast<std::chrono::seconds>(now - h.since).count();
    longest = std::max(longest, secs);
    out += (out.empty() ? "" : "; ") + w->resource.kind + ": " + h.error;
  }
  if (out.empty()) return "";
  return "kubernetes api " + config_.server + " unreachable for " + std::to_string(longest) + "s (" + out + ")";
}

void ApiSource::deliver(SourceUpdate update, bool initial_list) {
  std::lock_guard lock(sink_mutex_);
  // Before the sink: the status the agent builds after this update shows
  // its errors.
  rejections_.record(update);
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
