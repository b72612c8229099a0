// HTTP(S) transport to the Kubernetes API server on cpp-httplib + OpenSSL:
// TLS with the cluster CA (or the system's), bearer token or client
// certificate, GET with a buffered body and GET with a streamed body (watch).
//
// One ApiClient serves one thread; interrupt() may be called from any other
// thread to abort the request in flight (used by ApiSource::stop()).
// httplib stays out of this header so users need not its compile flags.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "bpfence/result.h"
#include "kubeconfig.h"

namespace bpfence {

struct ServerUrl {
  bool tls = true;
  std::string host;       // without brackets for IPv6
  int port = 443;
  std::string base_path;  // "" or "/prefix" (no trailing slash)
};

// Parses "https://host[:port][/prefix]" (IPv6 hosts in brackets).
Status parse_server_url(const std::string& url, ServerUrl& out);

struct ApiResponse {
  int status = 0;              // HTTP status; 0 when none was received
  std::string body;            // the body (for get), or the error body (for stream)
  std::string transport_error; // "" when the exchange completed
  bool ok() const { return transport_error.empty() && status == 200; }
  // "HTTP 403: pods is forbidden..." or "connection: Read".
  std::string describe() const;
};

struct ApiClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::string user_agent = "bpfence-agent";
};

class ApiClient {
 public:
  using Query = std::multimap<std::string, std::string>;
  using DataHandler = std::function<bool(std::string_view)>;

  static Status create(const KubeConfig& config, const ApiClientOptions& options, std::unique_ptr<ApiClient>& out);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GET path?query with the body buffered. The token file (if any) is
  // re-read first, so a rotated token is used from the next request on.
  ApiResponse get(const std::string& path, const Query& query, std::chrono::seconds read_timeout);

  // GET whose 200 body is handed to `on_data` as it arrives (a watch).
  // `on_data` returning false aborts the request. Other statuses' bodies
  // land in ApiResponse::body. `read_timeout` is the longest silence allowed.
  // `on_status`, when set, hears the status as soon as the headers arrive
  // (a watch with no events yet is still a working connection).
  ApiResponse stream(const std::string& path, const Query& query, std::chrono::seconds read_timeout,
                     const DataHandler& on_data, const std::function<void(int)>& on_status = {});

  // Thread-safe: makes the request in flight (if any) fail promptly.
  void interrupt();

  // Whether the file the token comes from (token file, or the kubeconfig
  // holding an inline token) changed since the last request read it: after
  // a 401 or 403, a fixed token is worth trying at once. Cheap (one stat).
  bool credentials_changed() const;

  const ServerUrl& url() const { return url_; }

 private:
  struct Impl;
  ApiClient(ServerUrl url, KubeConfig config, std::unique_ptr<Impl> impl);
  Status apply_token();
  // The file apply_token() reads, or "" when the token never changes.
  const std::string& credentials_file() const;

  ServerUrl url_;
  KubeConfig config_;
  std::unique_ptr<Impl> impl_;
  std::string credentials_stamp_;  // credentials_file()'s stat when last read
};

}  // namespace bpfence
