// ApiSource over HTTPS against the fake API server with a certificate made
// at test time: CA verification from kubeconfig data and from the
// in-cluster CA file, refusal of an unknown CA, insecure-skip-tls-verify,
// and client-certificate authentication.
#include <catch2/catch.hpp>

#include <openssl/x509_vfy.h>

#include "fake_api_server.h"
#include "k8s/api_source.h"
#include "k8s/kubeconfig.h"
#include "kube_test_util.h"

using namespace bpfence;
using namespace bpfence::test;
using namespace std::chrono_literals;

namespace {

ApiSourceOptions fast(Collector& c) {
  ApiSourceOptions o;
  o.watch_timeout = 30s;
  o.backoff_initial = 10ms;
  o.backoff_max = 100ms;
  o.log = c.logger();
  return o;
}

void seed(FakeApiServer& server) {
  server.upsert(kNamespaces, namespace_json("default"));
  server.upsert(kPods, pod_json("default", "web", "10.1.0.10", {{"app", "web"}}));
}

std::string kubeconfig(const std::string& server, const std::string& cluster, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster:\n    server: " + server +
         "\n" + cluster + "contexts:\n- name: test\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user:\n" + user;
}

bool wait_pod(Collector& c, const std::string& key) {
  return c.wait_for([&] { return c.state().count(ObjectKey{"Pod", key}) > 0; });
}

}  // namespace

TEST_CASE("TLS: the CA from certificate-authority-data verifies the server, list and watch work", "[kubeapi][tls]") {
  TestCert cert = make_test_cert();
  FakeApiServer server(cert.cert.get(), cert.key.get());
  seed(server);
  server.set_token("tls-token");
  TempDir dir;
  write_file(dir.file("config"), kubeconfig(server.url(), "    certificate-authority-data: " + base64(cert.cert_pem) + "\n",
                                            "    token: tls-token\n"));
  KubeConfig config;
  REQUIRE(load_kubeconfig(dir.file("config"), config));

  Collector collector;
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(config, fast(collector), source));
  source->start(collector.sink());
  REQUIRE(collector.wait_for([&] { return source->synced(); }));
  CHECK(collector.state().count(ObjectKey{"Pod", "default/web"}) == 1);

  REQUIRE(server.wait_for([&] { return server.active_streams(kPods) == 1; }));
  server.upsert(kPods, pod_json("default", "db", "10.1.0.11"));
  CHECK(wait_pod(collector, "default/db"));
  source->stop();
}

TEST_CASE("TLS: in-cluster config (CA file, token file) reaches the server", "[kubeapi][tls]") {
  TestCert cert = make_test_cert();
  FakeApiServer server(cert.cert.get(), cert.key.get());
  seed(server);
  server.set_token("sa-token");
  TempDir dir;
  write_file(dir.file("ca.crt"), cert.cert_pem);
  write_file(dir.file("token"), "sa-token\n");
  KubeConfig config;
  REQUIRE(load_in_cluster_config(InClusterEnv{"127.0.0.1", std::to_string(server.port()), dir.path()}, config));

  Collector collector;
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(config, fast(collector), source));
  source->start(collector.sink());
  REQUIRE(collector.wait_for([&] { return source->synced(); }));
  CHECK(collector.state().count(ObjectKey{"Namespace", "default"}) == 1);
}

TEST_CASE("TLS: a server whose certificate the CA did not sign is refused", "[kubeapi][tls]") {
  TestCert cert = make_test_cert();
  TestCert other = make_test_cert("someone-else");
  FakeApiServer server(cert.cert.get(), cert.key.get());
  seed(server);
  Collector collector;
  KubeConfig config;
  config.server = server.url();
  config.origin = "test";
  config.ca_pem = other.cert_pem;
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(config, fast(collector), source));
  source->start(collector.sink());
  // Several failed attempts, and not one request got through.
  REQUIRE(collector.wait_for([&] {
    int n = 0;
    for (auto& l : collector.logs()) n += l.find("SSLServerVerification") != std::string::npos;
    return n >= 3;
  }));
  CHECK(server.requests().empty());
  CHECK_FALSE(source->synced());
  CHECK(collector.updates().empty());
  source->stop();

  SECTION("unless insecure-skip-tls-verify is set") {
    Collector c2;
    config.ca_pem.clear();
    config.insecure_skip_tls_verify = true;
    REQUIRE(ApiSource::create(config, fast(c2), source));
    source->start(c2.sink());
    REQUIRE(c2.wait_for([&] { return source->synced(); }));
    source->stop();
  }
}

TEST_CASE("TLS: client-certificate-data authenticates to a server that requires a client certificate", "[kubeapi][tls]") {
  TestCert server_cert = make_test_cert();
  TestCert client_cert = make_test_cert("system:node:node-a");
  X509_STORE* client_ca = X509_STORE_new();
  REQUIRE(X509_STORE_add_cert(client_ca, client_cert.cert.get()) == 1);
  FakeApiServer server(server_cert.cert.get(), server_cert.key.get(), client_ca);
  seed(server);
  TempDir dir;
  write_file(dir.file("config"),
             kubeconfig(server.url(), "    certificate-authority-data: " + base64(server_cert.cert_pem) + "\n",
                        "    client-certificate-data: " + base64(client_cert.cert_pem) +
                            "\n    client-key-data: " + base64(client_cert.key_pem) + "\n"));
  KubeConfig config;
  REQUIRE(load_kubeconfig(dir.file("config"), config));

  Collector collector;
  std::unique_ptr<ApiSource> source;
  REQUIRE(ApiSource::create(config, fast(collector), source));
  source->start(collector.sink());
  REQUIRE(collector.wait_for([&] { return source->synced(); }));
  source->stop();

  SECTION("and without it the handshake fails") {
    Collector c2;
    config.client_cert_pem.clear();
    config.client_key_pem.clear();
    REQUIRE(ApiSource::create(config, fast(c2), source));
    source->start(c2.sink());
    REQUIRE(c2.wait_for([&] { return c2.logged("retrying after backoff"); }));
    CHECK_FALSE(source->synced());
    source->stop();
  }
}
