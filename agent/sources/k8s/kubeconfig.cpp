// Reading kubeconfig files (yaml-cpp) and the in-cluster service account.
// Exceptions from yaml-cpp stop here and become a Status naming the file.
#include "kubeconfig.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace bpfence {
namespace {

namespace fs = std::filesystem;

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return false;
  out = text.str();
  return true;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// The entry of a named list (clusters, contexts, users) with that name, and
// its inner map (`cluster:`, `context:`, `user:`).
std::optional<YAML::Node> find_named(const YAML::Node& root, const char* list, const char* inner,
                                     const std::string& name) {
  const YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) return std::nullopt;
  for (const auto& entry : entries) {
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() && entry["name"].as<std::string>() == name)
      return entry[inner] ? entry[inner] : YAML::Node(YAML::NodeType::Map);
  }
  return std::nullopt;
}

// A scalar string field, or "" when absent. A present non-scalar is an error.
Status get_string(const YAML::Node& map, const char* key, const std::string& where, std::string& out) {
  out.clear();
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return Status::ok();
  if (!node.IsScalar()) return Status::error(where + "." + key + ": must be a string");
  out = node.as<std::string>();
  return Status::ok();
}

// Resolves a path field against the kubeconfig's folder and checks it is
// readable now, so a typo is reported at start rather than on first connect.
Status get_path(const YAML::Node& map, const char* key, const std::string& where, const fs::path& base,
                std::string& out) {
  if (auto s = get_string(map, key, where, out); !s) return s;
  if (out.empty()) return Status::ok();
  fs::path p(out);
  if (p.is_relative()) p = base / p;
  out = p.string();
  std::string content;
  if (!read_file(out, content)) return Status::error(where + "." + key + ": cannot read " + out);
  return Status::ok();
}

// A base64 *-data field decoded to PEM text.
Status get_data(const YAML::Node& map, const char* key, const std::string& where, std::string& out) {
  std::string encoded;
  if (auto s = get_string(map, key, where, encoded); !s) return s;
  out.clear();
  if (encoded.empty()) return Status::ok();
  if (auto s = decode_base64(encoded, out); !s) return Status::error(where + "." + key + ": " + s.message());
  return Status::ok();
}

// The CA bundle must hold at least one PEM certificate: checked here so the
// error names the field instead of surfacing as a TLS failure later.
Status check_certificates(const std::string& pem, const std::string& field) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return Status::error(field + ": out of memory");
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++count;
  }
  BIO_free(bio);
  if (count == 0) return Status::error(field + ": no PEM certificate in it");
  return Status::ok();
}

Status check_ca(const KubeConfig& c, const std::string& where) {
  if (!c.ca_pem.empty()) return check_certificates(c.ca_pem, where + ".certificate-authority-data");
  if (!c.ca_file.empty()) {
    std::string pem;
    read_file(c.ca_file, pem);
    return check_certificates(pem, where + ".certificate-authority (" + c.ca_file + ")");
  }
  return Status::ok();
}

Status read_cluster(const YAML::Node& cluster, const std::string& where, const fs::path& base, KubeConfig& out) {
  if (auto s = get_string(cluster, "server", where, out.server); !s) return s;
  if (out.server.empty()) return Status::error(where + ".server: missing");
  if (out.server.rfind("https://", 0) != 0 && out.server.rfind("http://", 0) != 0)
    return Status::error(where + ".server: \"" + out.server + "\" is not an http:// or https:// URL");
  if (auto s = get_path(cluster, "certificate-authority", where, base, out.ca_file); !s) return s;
  if (auto s = get_data(cluster, "certificate-authority-data", where, out.ca_pem); !s) return s;
  if (auto s = check_ca(out, where); !s) return s;
  if (const YAML::Node insecure = cluster["insecure-skip-tls-verify"]; insecure && !insecure.IsNull()) {
    try {
      out.insecure_skip_tls_verify = insecure.as<bool>();
    } catch (const YAML::Exception&) {
      return Status::error(where + ".insecure-skip-tls-verify: must be true or false");
    }
  }
  return Status::ok();
}

Status read_user(const YAML::Node& user, const std::string& where, const fs::path& base, KubeConfig& out) {
  // Ways to authenticate that bpfence does not implement: refuse them by name
  // instead of connecting anonymously and failing later with a vague 401.
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (user[unsupported]) return Status::error(where + "." + unsupported + ": not supported by bpfence; use a token, tokenFile or client certificate");
  }
  if (auto s = get_string(user, "token", where, out.token); !s) return s;
  out.token = trim(out.token);
  if (auto s = get_path(user, "tokenFile", where, base, out.token_file); !s) return s;
  if (!out.token_file.empty()) {
    std::string token;
    if (auto s = read_token_file(out.token_file, token); !s) return Status::error(where + ".tokenFile: " + s.message());
  }
  if (auto s = get_path(user, "client-certificate", where, base, out.client_cert_file); !s) return s;
  if (auto s = get_path(user, "client-key", where, base, out.client_key_file); !s) return s;
  if (auto s = get_data(user, "client-certificate-data", where, out.client_cert_pem); !s) return s;
  if (auto s = get_data(user, "client-key-data", where, out.client_key_pem); !s) return s;
  bool has_cert = !out.client_cert_file.empty() || !out.client_cert_pem.empty();
  bool has_key = !out.client_key_file.empty() || !out.client_key_pem.empty();
  if (has_cert != has_key)
    return Status::error(where + (has_cert ? ".client-key" : ".client-certificate") +
                         ": missing (a client certificate needs its key and the other way round)");
  return Status::ok();
}

}  // namespace

Status decode_base64(const std::string& text, std::string& out) {
  // EVP_Decode* accepts the line-wrapped form kubeconfigs sometimes carry.
  EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
  if (!ctx) return Status::error("out of memory");
  out.assign(text.size() / 4 * 3 + 3, '\0');
  EVP_DecodeInit(ctx);
  int n = 0, tail = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  int rc = EVP_DecodeUpdate(ctx, dst, &n, reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  int rc_final = rc < 0 ? -1 : EVP_DecodeFinal(ctx, dst + n, &tail);
  EVP_ENCODE_CTX_free(ctx);
  if (rc < 0 || rc_final < 0) {
    out.clear();
    return Status::error("invalid base64");
  }
  out.resize(static_cast<size_t>(n + tail));
  return Status::ok();
}

Status read_token_file(const std::string& path, std::string& token) {
  std::string content;
  if (!read_file(path, content)) return Status::error("cannot read token file " + path);
  token = trim(content);
  if (token.empty()) return Status::error("token file " + path + " is empty");
  return Status::ok();
}

Status load_kubeconfig(const std::string& path, KubeConfig& out, const std::string& context) {
  out = KubeConfig{};
  std::string text;
  if (!read_file(path, text)) return Status::error(path + ": cannot read kubeconfig");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::error(path + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) return Status::error(path + ": not a kubeconfig (expected a map at the top)");
  const fs::path base = fs::absolute(fs::path(path)).parent_path();
  auto fail = [&](const Status& s) { return Status::error(path + ": " + s.message()); };

  try {
    std::string context_name = context;
    if (context_name.empty()) {
      if (auto s = get_string(root, "current-context", "", context_name); !s) return fail(Status::error("current-context: must be a string"));
      if (context_name.empty()) return fail(Status::error("current-context: missing (and no context was given)"));
    }
    const std::string ctx_where = "contexts[name=" + context_name + "].context";
    const auto ctx_entry = find_named(root, "contexts", "context", context_name);
    if (!ctx_entry) return fail(Status::error("contexts: no context named \"" + context_name + "\""));
    const YAML::Node& ctx = *ctx_entry;
    if (!ctx.IsMap()) return fail(Status::error(ctx_where + ": must be a map"));
    std::string cluster_name, user_name;
    if (auto s = get_string(ctx, "cluster", ctx_where, cluster_name); !s) return fail(s);
    if (auto s = get_string(ctx, "user", ctx_where, user_name); !s) return fail(s);
    if (auto s = get_string(ctx, "namespace", ctx_where, out.namespace_); !s) return fail(s);
    if (cluster_name.empty()) return fail(Status::error(ctx_where + ".cluster: missing"));

    const std::string cluster_where = "clusters[name=" + cluster_name + "].cluster";
    const auto cluster_entry = find_named(root, "clusters", "cluster", cluster_name);
    if (!cluster_entry) return fail(Status::error(ctx_where + ".cluster: no cluster named \"" + cluster_name + "\""));
    const YAML::Node& cluster = *cluster_entry;
    if (!cluster.IsMap()) return fail(Status::error(cluster_where + ": must be a map"));
    if (auto s = read_cluster(cluster, cluster_where, base, out); !s) return fail(s);

    // A context without a user is legal (anonymous, or kubectl proxy).
    if (!user_name.empty()) {
      const std::string user_where = "users[name=" + user_name + "].user";
      const auto user_entry = find_named(root, "users", "user", user_name);
      if (!user_entry) return fail(Status::error(ctx_where + ".user: no user named \"" + user_name + "\""));
      const YAML::Node& user = *user_entry;
      if (!user.IsMap()) return fail(Status::error(user_where + ": must be a map"));
      if (auto s = read_user(user, user_where, base, out); !s) return fail(s);
    }
    if (out.namespace_.empty()) out.namespace_ = "default";
    out.origin = "kubeconfig " + path + " context " + context_name;
    out.kubeconfig_path = path;
    out.context = context;
  } catch (const YAML::Exception& e) {
    return fail(Status::error(std::string("unexpected structure: ") + e.what()));
  }
  return Status::ok();
}

InClusterEnv InClusterEnv::from_environment() {
  InClusterEnv env;
  if (const char* h = std::getenv("KUBERNETES_SERVICE_HOST")) env.host = h;
  if (const char* p = std::getenv("KUBERNETES_SERVICE_PORT")) env.port = p;
  return env;
}

Status load_in_cluster_config(const InClusterEnv& env, KubeConfig& out) {
  out = KubeConfig{};
  if (env.host.empty() || env.port.empty())
    return Status::error("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod? use --kubeconfig)");
  // An IPv6 service IP needs brackets in a URL.
  const bool v6 = env.host.find(':') != std::string::npos;
  out.server = "https://" + (v6 ? "[" + env.host + "]" : env.host) + ":" + env.port;
  out.token_file = env.dir + "/token";
  out.ca_file = env.dir + "/ca.crt";
  std::string token, ca;
  if (auto s = read_token_file(out.token_file, token); !s) return Status::error("in-cluster config: " + s.message());
  if (!read_file(out.ca_file, ca)) return Status::error("in-cluster config: cannot read CA file " + out.ca_file);
  if (auto s = check_certificates(ca, "CA file " + out.ca_file); !s) return Status::error("in-cluster config: " + s.message());
  std::string ns;
  out.namespace_ = read_file(env.dir + "/namespace", ns) && !trim(ns).empty() ? trim(ns) : "default";
  out.origin = "in-cluster " + out.server;
  return Status::ok();
}

}  // namespace bpfence
