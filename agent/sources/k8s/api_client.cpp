// cpp-httplib glue for the API client: URL parsing, TLS settings, token
// (re-)reading and the two kinds of GET.
#include "api_client.h"

#include <httplib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

#include "unique_fd.h"

namespace bpfence {
namespace {

// PEM text handed to httplib, which only takes file paths for the CA and the
// client certificate: an anonymous in-memory file, reachable as
// /proc/self/fd/N, so no key material touches the disk.
class MemFile {
 public:
  Status create(const char* name, const std::string& content) {
    fd_.reset(::memfd_create(name, MFD_CLOEXEC));
    if (!fd_) return Status::error(std::string("memfd_create: ") + std::strerror(errno));
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd_.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::error(std::string("memfd write: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return Status::ok();
  }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_.get()); }

 private:
  UniqueFd fd_;
};

}  // namespace

struct ApiClient::Impl {
  MemFile ca, cert, key;
  std::unique_ptr<httplib::ClientImpl> http;
  httplib::Headers headers;
};

Status parse_server_url(const std::string& url, ServerUrl& out) {
  out = ServerUrl{};
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) {
    out.tls = true;
    out.port = 443;
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    out.tls = false;
    out.port = 80;
    rest.remove_prefix(7);
  } else {
    return Status::error("server \"" + url + "\": not an http:// or https:// URL");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.base_path = std::string(rest.substr(slash));
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::error("server \"" + url + "\": unclosed [ in IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::error("server \"" + url + "\": junk after IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return Status::error("server \"" + url + "\": no host");
  if (!port_text.empty()) {
    int port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port <= 0 || port > 65535)
      return Status::error("server \"" + url + "\": bad port \"" + std::string(port_text) + "\"");
    out.port = port;
  }
  return Status::ok();
}

std::string ApiResponse::describe() const {
  if (!transport_error.empty()) return "connection: " + transport_error;
  std::string text = "HTTP " + std::to_string(status);
  // The API server answers errors with a metav1.Status; its message is the
  // useful part ("pods is forbidden: User ... cannot list ...").
  auto value = nlohmann::json::parse(body, nullptr, false);
  if (value.is_object() && value.contains("message") && value["message"].is_string())
    text += ": " + value["message"].get<std::string>();
  else if (!body.empty())
    text += ": " + body.substr(0, 200);
  return text;
}

ApiClient::ApiClient(ServerUrl url, KubeConfig config, std::unique_ptr<Impl> impl)
    : url_(std::move(url)), config_(std::move(config)), impl_(std::move(impl)) {}

ApiClient::~ApiClient() = default;

Status ApiClient::create(const KubeConfig& config, const ApiClientOptions& options, std::unique_ptr<ApiClient>& out) {
  ServerUrl url;
  if (auto s = parse_server_url(config.server, url); !s) return s;
  auto impl = std::make_unique<Impl>();
  if (url.tls) {
    std::string cert_path = config.client_cert_file, key_path = config.client_key_file;
    if (!config.client_cert_pem.empty()) {
      if (auto s = impl->cert.create("bpfence-client-cert", config.client_cert_pem); !s) return s;
      cert_path = impl->cert.path();
    }
    if (!config.client_key_pem.empty()) {
      if (auto s = impl->key.create("bpfence-client-key", config.client_key_pem); !s) return s;
      key_path = impl->key.path();
    }
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!cert_path.empty())
      ssl = std::make_unique<httplib::SSLClient>(url.host, url.port, cert_path, key_path);
    else
      ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
    if (!ssl->is_valid())
      return Status::error(config.origin + ": cannot load the client certificate and key (do they match?)");
    std::string ca_path = config.ca_file;
    if (!config.ca_pem.empty()) {
      if (auto s = impl->ca.create("bpfence-ca", config.ca_pem); !s) return s;
      ca_path = impl->ca.path();
    }
    // With a CA path set httplib trusts only it; without, the system's CAs.
    if (!ca_path.empty()) ssl->set_ca_cert_path(ca_path);
    ssl->enable_server_certificate_verification(!config.insecure_skip_tls_verify);
    impl->http = std::move(ssl);
  } else {
    impl->http = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  impl->http->set_connection_timeout(options.connect_timeout);
  impl->http->set_write_timeout(options.connect_timeout);
  impl->http->set_keep_alive(false);
  impl->http->set_follow_location(false);
  impl->headers = {{"Accept", "application/json"}, {"User-Agent", options.user_agent}};
  out.reset(new ApiClient(std::move(url), config, std::move(impl)));
  return Status::ok();
}

namespace {

// Identifies a version of a file: a kubelet token rotation (an atomic
// symlink swap) or an editor's save changes the inode, mtime or size.
std::string file_stamp(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

const std::string& ApiClient::credentials_file() const {
  static const std::string none;
  if (!config_.token_file.empty()) return config_.token_file;
  if (!config_.token.empty()) return config_.kubeconfig_path;
  return none;
}

bool ApiClient::credentials_changed() const {
  const std::string& file = credentials_file();
  return !file.empty() && file_stamp(file) != credentials_stamp_;
}

Status ApiClient::apply_token() {
  std::string token = config_.token;
  credentials_stamp_ = file_stamp(credentials_file());
  // Service account tokens are rotated by the kubelet: read the file anew
  // for every connection rather than once at start.
  if (!config_.token_file.empty()) {
    if (auto s = read_token_file(config_.token_file, token); !s) return s;
  } else if (!token.empty() && !config_.kubeconfig_path.empty()) {
    // An inline token: the kubeconfig is re-read. A file that no longer
    // loads (half-written, say) leaves the last token in use.
    KubeConfig fresh;
    if (load_kubeconfig(config_.kubeconfig_path, fresh, config_.context) && !fresh.token.empty()) {
      token = fresh.token;
      config_.token = token;
    }
  }
  if (!token.empty()) impl_->http->set_bearer_token_auth(token);
  return Status::ok();
}

ApiResponse ApiClient::get(const std::string& path, const Query& query, std::chrono::seconds read_timeout) {
  ApiResponse response;
  if (auto s = apply_token(); !s) {
    response.transport_error = s.message();
    return response;
  }
  impl_->http->set_read_timeout(read_timeout);
  httplib::Result result = impl_->http->Get(url_.base_path + path, query, impl_->headers);
  if (!result) {
    response.transport_error = httplib::to_string(result.error());
    return response;
  }
  response.status = result->status;
  response.body = std::move(result->body);
  return response;
}

ApiResponse ApiClient::stream(const std::string& path, const Query& query, std::chrono::seconds read_timeout,
                              const DataHandler& on_data, const std::function<void(int)>& on_status) {
  ApiResponse response;
  if (auto s = apply_token(); !s) {
    response.transport_error = s.message();
    return response;
  }
  impl_->http->set_read_timeout(read_timeout);
  // A compressed stream would sit in the compressor's buffer: events must
  // arrive as they happen.
  httplib::Headers headers = impl_->headers;
  headers.emplace("Accept-Encoding", "identity");
  httplib::Result result = impl_->http->Get(
      url_.base_path + path, query, headers,
      [&](const httplib::Response& head) {
        response.status = head.status;
        if (on_status) on_status(head.status);
        return true;
      },
      [&](const char* data, size_t size) {
        if (response.status == 200) return on_data(std::string_view(data, size));
        // An error body is a small metav1.Status; keep a bounded prefix.
        if (response.body.size() < 64 * 1024) response.body.append(data, std::min<size_t>(size, 64 * 1024));
        return true;
      });
  if (!result) response.transport_error = httplib::to_string(result.error());
  return response;
}

void ApiClient::interrupt() { impl_->http->stop(); }

}  // namespace bpfence
