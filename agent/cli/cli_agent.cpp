// The agent API client on cpp-httplib: short timeouts, since the CLI falls
// back to the pinned maps when the agent does not answer.
#include "cli_agent.h"

#include <httplib.h>

#include <cctype>
#include <charconv>

namespace bpfence::cli {
namespace {

std::string error_text(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no answer";
    default: return httplib::to_string(e);
  }
}

}  // namespace

AgentClient::AgentClient(std::string address) : address_(std::move(address)) {
  if (address_.empty()) return;
  std::string_view a = address_;
  size_t colon = a.rfind(':');
  if (colon == std::string_view::npos) return;
  std::string_view host = a.substr(0, colon), port = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p <= 0 || p > 65535) return;
  host_ = host;
  port_ = p;
}

Status AgentClient::get(const std::string& path, nlohmann::json* out) const {
  if (port_ == 0) return Status::error("agent address \"" + address_ + "\" is not HOST:PORT");
  httplib::Client client(host_, port_);
  // Loopback: an agent that is up answers in microseconds.
  client.set_connection_timeout(0, 300000);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  if (!res) return Status::error("agent " + address_ + path + ": " + error_text(res.error()));
  if (res->status != 200) {
    std::string body = res->body.substr(0, 200);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
    return Status::error("agent " + address_ + path + ": HTTP " + std::to_string(res->status) +
                         (body.empty() ? "" : ": " + body));
  }
  *out = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return Status::error("agent " + address_ + path + ": the answer is not JSON");
  return Status::ok();
}

bool AgentClient::reachable() const {
  if (reachable_) return *reachable_;
  if (address_.empty()) {
    error_ = "not asked (--no-agent)";
    reachable_ = false;
    return false;
  }
  if (port_ == 0) {
    error_ = "agent address \"" + address_ + "\" is not HOST:PORT";
    reachable_ = false;
    return false;
  }
  httplib::Client client(host_, port_);
  client.set_connection_timeout(0, 300000);
  client.set_read_timeout(2, 0);
  auto res = client.Get("/healthz");
  if (!res)
    error_ = "agent " + address_ + ": " + error_text(res.error());
  else if (res->status != 200)
    error_ = "agent " + address_ + "/healthz: HTTP " + std::to_string(res->status);
  reachable_ = res && res->status == 200;
  return *reachable_;
}

std::string url_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace bpfence::cli
