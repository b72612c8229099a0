// HttpServer on cpp-httplib: exact routes, GET/HEAD only, small thread pool.
#include "http_server.h"

#include <arpa/inet.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <chrono>
#include <thread>

#include <httplib.h>

namespace bpfence {

bool ListenAddress::loopback() const {
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

std::string ListenAddress::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Status parse_listen_address(const std::string& text, ListenAddress* out) {
  ListenAddress a;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) return Status::error("--listen " + text + ": expected [IPv6]:PORT");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      return Status::error("--listen " + text + ": expected ADDR:PORT (IPv6 in brackets)");
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || p != port.data() + port.size() || a.port < 0 || a.port > 65535)
    return Status::error("--listen " + text + ": bad port \"" + port + "\"");
  in_addr a4{};
  in6_addr a6{};
  if (a.host != "localhost" && inet_pton(AF_INET, a.host.c_str(), &a4) != 1 &&
      inet_pton(AF_INET6, a.host.c_str(), &a6) != 1)
    return Status::error("--listen " + text + ": \"" + a.host + "\" is not an IP address");
  *out = a;
  return Status::ok();
}

struct HttpServer::Impl {
  HttpServerOptions options;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listening{false};
  int port = 0;
};

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  httplib::Server& s = impl_->server;
  int threads = impl_->options.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(impl_->options.read_timeout_seconds, 0);
  s.set_write_timeout(impl_->options.write_timeout_seconds, 0);
  s.set_payload_max_length(0);
  s.set_keep_alive_max_count(100);
  // Read-only API: refuse every other method before any body is parsed.
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD") return httplib::Server::HandlerResponse::Unhandled;
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_header("Connection", "close");
    res.set_content("method not allowed: this API is read-only\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) res.set_content("not found\n", "text/plain; charset=utf-8");
  });
  auto log = impl_->options.log;
  s.set_exception_handler([log](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (log) log("level=error msg=\"http handler failed\" path=" + req.path + " error=\"" + what + "\"");
    res.status = 500;
    res.set_content("internal error: " + what + "\n", "text/plain; charset=utf-8");
  });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(const std::string& path, RouteHandler handler) {
  // httplib matches routes as regular expressions; our paths have no
  // metacharacters besides '/', so this is an exact match.
  impl_->server.Get(path, [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    QueryParams q(req.params.begin(), req.params.end());
    HttpResponse r = handler(q);
    res.status = r.status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::move(r.body), r.content_type.c_str());
  });
}

Status HttpServer::start(const ListenAddress& address) {
  Impl& d = *impl_;
  if (d.thread.joinable()) return Status::error("http server: already started");
  if (address.port == 0) {
    d.port = d.server.bind_to_any_port(address.host);
    if (d.port <= 0) return Status::error("http server: cannot bind " + address.host + ":0");
  } else {
    if (!d.server.bind_to_port(address.host, address.port))
      return Status::error("http server: cannot bind " + address.str() + ": " + std::strerror(errno));
    d.port = address.port;
  }
  d.thread = std::thread([&d] {
    d.listening = true;
    d.server.listen_after_bind();
    d.listening = false;
  });
  return Status::ok();
}

void HttpServer::stop() {
  Impl& d = *impl_;
  if (!d.thread.joinable()) return;
  // stop() only reaches a server that is already in its accept loop.
  for (int i = 0; i < 1000 && d.listening && !d.server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.server.stop();
  d.thread.join();
}

int HttpServer::port() const { return impl_->port; }

}  // namespace bpfence
