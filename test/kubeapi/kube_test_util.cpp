// Test helpers: temp folder, OpenSSL-made test certificate, object JSON,
// and the recording sink.
#include "kube_test_util.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace bpfence::test {

using nlohmann::json;

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "bpfence-kubeapi-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what + " failed");
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, value);
  check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

std::string to_pem(const std::function<int(BIO*)>& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  check(bio && write(bio) == 1, "PEM write");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

}  // namespace

TestCert make_test_cert(const std::string& common_name) {
  TestCert t;
  t.key.reset(EVP_EC_gen("P-256"));
  check(t.key != nullptr, "EVP_EC_gen");
  t.cert.reset(X509_new());
  X509* x = t.cert.get();
  check(X509_set_version(x, 2) == 1, "X509_set_version");
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  check(X509_set_pubkey(x, t.key.get()) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  check(X509_set_issuer_name(x, name) == 1, "X509_set_issuer_name");
  add_extension(x, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(x, NID_subject_alt_name, "IP:127.0.0.1");
  add_extension(x, NID_subject_key_identifier, "hash");
  check(X509_sign(x, t.key.get(), EVP_sha256()) > 0, "X509_sign");
  t.cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, x); });
  t.key_pem = to_pem([&](BIO* b) { return PEM_write_bio_PrivateKey(b, t.key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  return t;
}

json namespace_json(const std::string& name, const std::map<std::string, std::string>& labels) {
  json l = labels;
  l["kubernetes.io/metadata.name"] = name;
  json ns;
  ns["metadata"] = {{"name", name}, {"labels", l}, {"uid", "uid-" + name}};
  ns["spec"] = {{"finalizers", json::array({"kubernetes"})}};
  ns["status"] = {{"phase", "Active"}};
  return ns;
}

json pod_json(const std::string& ns, const std::string& name, const std::string& ip,
              const std::map<std::string, std::string>& labels) {
  json port{{"name", "http"}, {"containerPort", 80}, {"protocol", "TCP"}};
  json container{{"name", "main"}, {"image", "nginx"}, {"ports", json::array({port})}};
  json pod;
  pod["metadata"] = {{"name", name}, {"namespace", ns}, {"labels", labels}, {"uid", "uid-" + ns + "-" + name}};
  pod["spec"] = {{"nodeName", "node-a"}, {"containers", json::array({container})}};
  pod["status"] = {{"phase", "Running"}, {"podIP", ip}, {"podIPs", json::array({json{{"ip", ip}}})}};
  return pod;
}

json policy_json(const std::string& ns, const std::string& name, const std::string& app, int port, const std::string& cidr) {
  json peer{{"ipBlock", {{"cidr", cidr}}}};
  json rule{{"from", json::array({peer})}, {"ports", json::array({json{{"protocol", "TCP"}, {"port", port}}})}};
  json policy;
  policy["metadata"] = {{"name", name}, {"namespace", ns}};
  policy["spec"] = {{"podSelector", {{"matchLabels", {{"app", app}}}}},
                    {"policyTypes", json::array({"Ingress"})},
                    {"ingress", json::array({rule})}};
  return policy;
}

json cluster_policy_json(const std::string& name, int priority, const std::string& cidr) {
  json rule{{"name", "deny-" + name}, {"action", "Deny"}, {"to", json::array({json{{"networks", json::array({cidr})}}})}};
  json policy;
  policy["metadata"] = {{"name", name}};
  policy["spec"] = {{"tier", "Admin"},
                    {"priority", priority},
                    {"subject", {{"namespaces", json::object()}}},
                    {"egress", json::array({rule})}};
  return policy;
}

std::string resource_version_of(const Object& object) {
  return std::visit([](const auto& o) { return o.resource_version; }, object);
}

UpdateSink Collector::sink() {
  return [this](SourceUpdate update) {
    {
      std::lock_guard lock(mu_);
      updates_.push_back(std::move(update));
    }
    cv_.notify_all();
  };
}

std::function<void(std::string_view)> Collector::logger() {
  return [this](std::string_view line) {
    {
      std::lock_guard lock(mu_);
      logs_.emplace_back(line);
    }
    cv_.notify_all();
  };
}

std::vector<SourceUpdate> Collector::updates() const {
  std::lock_guard lock(mu_);
  return updates_;
}

std::vector<std::string> Collector::logs() const {
  std::lock_guard lock(mu_);
  return logs_;
}

bool Collector::logged(const std::string& needle) const {
  for (const auto& line : logs())
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

std::map<ObjectKey, std::string> Collector::state() const {
  std::map<ObjectKey, std::string> state;
  for (const auto& u : updates()) {
    if (u.resync_kind) std::erase_if(state, [&](const auto& kv) { return kv.first.kind == *u.resync_kind; });
    for (const auto& o : u.upserts) state[key_of(o)] = resource_version_of(o);
    for (const auto& k : u.deletes) state.erase(k);
  }
  return state;
}

int Collector::resyncs(const std::string& kind) const {
  int n = 0;
  for (const auto& u : updates())
    if (u.resync_kind == kind) ++n;
  return n;
}

std::vector<ParseError> Collector::errors() const {
  std::vector<ParseError> out;
  for (const auto& u : updates()) out.insert(out.end(), u.errors.begin(), u.errors.end());
  return out;
}

bool Collector::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

}  // namespace bpfence::test
