// Helpers for the API client tests: a temp folder, a self-signed TLS
// certificate made at test time, JSON objects as the API server returns
// them, and a sink that records SourceUpdates and replays them into a state
// the way the store would.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpfence/source.h"

namespace bpfence::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes a file atomically (write to a temp name, then rename), as the
// kubelet does when it rotates a projected token.
void write_file(const std::string& path, const std::string& content);

std::string base64(const std::string& bytes);

// A self-signed CA:TRUE certificate for 127.0.0.1 (subjectAltName IP) with
// an EC P-256 key, valid for an hour.
struct TestCert {
  std::unique_ptr<X509, void (*)(X509*)> cert{nullptr, X509_free};
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key{nullptr, EVP_PKEY_free};
  std::string cert_pem;
  std::string key_pem;
};
TestCert make_test_cert(const std::string& common_name = "bpfence-test-apiserver");

nlohmann::json namespace_json(const std::string& name, const std::map<std::string, std::string>& labels = {});
nlohmann::json pod_json(const std::string& ns, const std::string& name, const std::string& ip,
                        const std::map<std::string, std::string>& labels = {});
// A policy allowing TCP `port` to pods labelled app=`app`; `cidr` goes into
// an ipBlock peer (pass an invalid one to get a parser rejection).
nlohmann::json policy_json(const std::string& ns, const std::string& name, const std::string& app, int port,
                           const std::string& cidr = "10.0.0.0/8");
// An Admin ClusterNetworkPolicy denying egress from every pod to `cidr`
// (pass an invalid one to get a parser rejection).
nlohmann::json cluster_policy_json(const std::string& name, int priority, const std::string& cidr);

// Records every update and log line; reproduces the store's view.
class Collector {
 public:
  UpdateSink sink();
  std::function<void(std::string_view)> logger();

  std::vector<SourceUpdate> updates() const;
  std::vector<std::string> logs() const;
  // The objects a store would hold now: resyncs replace a kind, upserts and
  // deletes apply in order. Values are resource versions, for comparison.
  std::map<ObjectKey, std::string> state() const;
  // Count of updates with resync_kind == kind.
  int resyncs(const std::string& kind) const;
  std::vector<ParseError> errors() const;
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  bool logged(const std::string& needle) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<SourceUpdate> updates_;
  std::vector<std::string> logs_;
};

std::string resource_version_of(const Object& object);

}  // namespace bpfence::test
