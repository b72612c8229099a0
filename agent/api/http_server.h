// The agent's read-only HTTP server on cpp-httplib: routes map a path to a
// handler that returns a body; anything but GET and HEAD is refused with 405
// before a request body is read (httplib 0.11 has body-parsing CVEs), and
// request bodies are capped at zero bytes. httplib stays out of this header.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "bpfence/result.h"

namespace bpfence {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;

  static HttpResponse text(int status, std::string body) {
    return {status, "text/plain; charset=utf-8", std::move(body)};
  }
  static HttpResponse json(std::string body, int status = 200) { return {status, "application/json", std::move(body)}; }
};

using QueryParams = std::multimap<std::string, std::string>;
using RouteHandler = std::function<HttpResponse(const QueryParams&)>;

// "127.0.0.1:9617", "[::1]:9617", "0.0.0.0:9617".
struct ListenAddress {
  std::string host;
  int port = 0;
  bool loopback() const;
  std::string str() const;
};
Status parse_listen_address(const std::string& text, ListenAddress* out);

struct HttpServerOptions {
  int threads = 4;
  int read_timeout_seconds = 5;
  int write_timeout_seconds = 10;
  std::function<void(const std::string&)> log;  // one line per served error
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before start(). The path matches exactly.
  void handle(const std::string& path, RouteHandler handler);

  // Binds (port 0 picks a free one) and serves on a thread of its own.
  Status start(const ListenAddress& address);
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bpfence
