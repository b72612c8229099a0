// The agent's HTTP API exposure (issue 8, least privilege), without root:
// the default listen address is loopback and only an explicit --listen
// binds elsewhere; the server answers every method but GET and HEAD with
// 405 from its pre-routing handler, before reading a request body (shown by
// a POST that announces a megabyte and sends none: the 405 comes at once).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "api/http_server.h"
#include "options.h"

using namespace bpfence;

namespace {

// One raw HTTP/1.1 exchange on 127.0.0.1:port: sends `request` as is and
// reads until the server closes or `timeout_ms` of silence. `first_s`: seconds
// until the first byte of the answer.
std::string http_exchange(int port, const std::string& request, int timeout_ms = 3000, double* first_s = nullptr) {
  auto t0 = std::chrono::steady_clock::now();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (out.empty() && first_s)
      *first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

int status_of(const std::string& response) {
  // "HTTP/1.1 405 Method Not Allowed\r\n..."
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

AgentOptions parse(const std::vector<std::string>& args) {
  AgentOptions o;
  Status s = parse_agent_options(args, "", &o);
  INFO(s.message());
  REQUIRE(s.is_ok());
  return o;
}

}  // namespace

TEST_CASE("agent API: loopback by default, elsewhere only with an explicit --listen", "[agent][api][exposure]") {
  AgentOptions o = parse({"--node", "n1", "--manifests", "/tmp"});
  CHECK(o.listen == "127.0.0.1:9617");
  CHECK_FALSE(o.listen_given);
  ListenAddress a;
  REQUIRE(parse_listen_address(o.listen, &a).is_ok());
  CHECK(a.loopback());

  o = parse({"--node", "n1", "--manifests", "/tmp", "--listen", "0.0.0.0:9617"});
  CHECK(o.listen_given);
  REQUIRE(parse_listen_address(o.listen, &a).is_ok());
  CHECK_FALSE(a.loopback());
  for (const char* text : {"[::1]:9617", "127.0.0.5:1", "localhost:9617"}) {
    REQUIRE(parse_listen_address(text, &a).is_ok());
    CHECK(a.loopback());
  }
  for (const char* text : {"[::]:9617", "10.0.0.1:9617"}) {
    REQUIRE(parse_listen_address(text, &a).is_ok());
    CHECK_FALSE(a.loopback());
  }
  // A host name other than localhost could resolve anywhere: refused.
  CHECK_FALSE(parse_listen_address("node.example:9617", &a).is_ok());
  std::string usage = agent_usage();
  CHECK(usage.find("default 127.0.0.1:9617") != std::string::npos);
}

TEST_CASE("agent API: anything but GET and HEAD gets 405 before a body is read", "[agent][api][exposure]") {
  HttpServer server;
  int calls = 0;
  server.handle("/v1/status", [&calls](const QueryParams&) {
    ++calls;
    return HttpResponse::json("{}\n");
  });
  ListenAddress a;
  REQUIRE(parse_listen_address("127.0.0.1:0", &a).is_ok());
  REQUIRE(server.start(a).is_ok());
  const int port = server.port();
  REQUIRE(port > 0);

  CHECK(status_of(http_exchange(port, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200);
  CHECK(status_of(http_exchange(port, "HEAD /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200);
  CHECK(calls == 2);

  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"}) {
    INFO(method);
    std::string r = http_exchange(port, std::string(method) + " /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                                         "Connection: close\r\n\r\n{}");
    CHECK(status_of(r) == 405);
    CHECK(r.find("Allow: GET, HEAD") != std::string::npos);
    // Unknown paths too: the method is refused before routing.
    CHECK(status_of(http_exchange(port, std::string(method) + " /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          405);
  }
  // A method httplib does not know is refused by its parser (400), also
  // without reaching a handler.
  CHECK(status_of(http_exchange(port, "PROPFIND /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 400);
  CHECK(calls == 2);

  // A megabyte announced, none sent: a server reading the body would wait
  // (its read timeout is 5 s) before answering; the 405 comes at once.
  double first = 99;
  std::string r =
      http_exchange(port, "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n", 1000, &first);
  CHECK(status_of(r) == 405);
  CHECK(first < 1.0);
  // And chunked bodies alike.
  r = http_exchange(port, "PUT /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n", 1000);
  CHECK(status_of(r) == 405);
  server.stop();
}
