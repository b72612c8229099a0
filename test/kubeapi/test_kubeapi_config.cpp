// kubeconfig and in-cluster config: what is read, and errors that name the
// file and the field.
#include <catch2/catch.hpp>

#include "k8s/kubeconfig.h"
#include "kube_test_util.h"

using namespace bpfence;
using namespace bpfence::test;

namespace {

// A kubeconfig with two contexts; `user` is spliced in as the user map.
std::string kubeconfig_text(const std::string& user, const std::string& cluster_extra = "") {
  return R"(apiVersion: v1
kind: Config
current-context: admin@kind
clusters:
- name: other
  cluster:
    server: https://10.9.9.9:6443
- name: kind
  cluster:
    server: https://127.0.0.1:6443
)" + cluster_extra + R"(
contexts:
- name: admin@kind
  context:
    cluster: kind
    user: admin
    namespace: team-a
- name: other
  context:
    cluster: other
    user: admin
users:
- name: admin
  user:
)" + user;
}

std::string load_error(const std::string& path) {
  KubeConfig c;
  Status s = load_kubeconfig(path, c);
  return s ? "" : s.message();
}

}  // namespace

TEST_CASE("kubeconfig: current context, token, CA data", "[kubeapi][config]") {
  TempDir dir;
  TestCert cert = make_test_cert();
  write_file(dir.file("config"),
             kubeconfig_text("    token: abc.def\n", "    certificate-authority-data: " + base64(cert.cert_pem) + "\n"));
  KubeConfig c;
  REQUIRE(load_kubeconfig(dir.file("config"), c));
  CHECK(c.server == "https://127.0.0.1:6443");
  CHECK(c.token == "abc.def");
  CHECK(c.ca_pem == cert.cert_pem);
  CHECK(c.namespace_ == "team-a");
  CHECK_FALSE(c.insecure_skip_tls_verify);
  CHECK(c.origin.find("context admin@kind") != std::string::npos);

  // An explicit context wins over current-context.
  REQUIRE(load_kubeconfig(dir.file("config"), c, "other"));
  CHECK(c.server == "https://10.9.9.9:6443");
  CHECK(c.namespace_ == "default");
}

TEST_CASE("kubeconfig: relative tokenFile, CA file and client certificate resolve against its folder", "[kubeapi][config]") {
  TempDir dir;
  TestCert cert = make_test_cert();
  write_file(dir.file("token"), "  tok-1\n");
  write_file(dir.file("ca.crt"), cert.cert_pem);
  write_file(dir.file("client.crt"), cert.cert_pem);
  write_file(dir.file("client.key"), cert.key_pem);
  write_file(dir.file("config"), kubeconfig_text("    tokenFile: token\n    client-certificate: client.crt\n"
                                                 "    client-key: client.key\n",
                                                 "    certificate-authority: ca.crt\n"
                                                 "    insecure-skip-tls-verify: false\n"));
  KubeConfig c;
  Status s = load_kubeconfig(dir.file("config"), c);
  INFO(s.message());
  REQUIRE(s);
  CHECK(c.token_file == dir.file("token"));
  CHECK(c.ca_file == dir.file("ca.crt"));
  CHECK(c.client_cert_file == dir.file("client.crt"));
  CHECK(c.client_key_file == dir.file("client.key"));
  std::string token;
  REQUIRE(read_token_file(c.token_file, token));
  CHECK(token == "tok-1");
}

TEST_CASE("kubeconfig: client certificate and key data are decoded", "[kubeapi][config]") {
  TempDir dir;
  TestCert cert = make_test_cert();
  // Line-wrapped base64, as some tools write it.
  std::string wrapped = base64(cert.key_pem);
  for (size_t i = 64; i < wrapped.size(); i += 65) wrapped.insert(i, "\n      ");
  write_file(dir.file("config"), kubeconfig_text("    client-certificate-data: " + base64(cert.cert_pem) +
                                                 "\n    client-key-data: |\n      " + wrapped + "\n"));
  KubeConfig c;
  Status s = load_kubeconfig(dir.file("config"), c);
  INFO(s.message());
  REQUIRE(s);
  CHECK(c.client_cert_pem == cert.cert_pem);
  CHECK(c.client_key_pem == cert.key_pem);
}

TEST_CASE("kubeconfig: errors name the file and the field", "[kubeapi][config]") {
  TempDir dir;
  const std::string path = dir.file("config");
  auto check_error = [&](const std::string& text, const std::string& expected) {
    write_file(path, text);
    const std::string error = load_error(path);
    INFO(error);
    CHECK(error.rfind(path + ": ", 0) == 0);
    CHECK(error.find(expected) != std::string::npos);
  };
  check_error(kubeconfig_text("    exec:\n      command: aws\n"), "users[name=admin].user.exec: not supported");
  check_error(kubeconfig_text("    token: t\n", "    certificate-authority-data: '***'\n"),
              "clusters[name=kind].cluster.certificate-authority-data: invalid base64");
  check_error(kubeconfig_text("    token: t\n", "    certificate-authority-data: " + base64("not a cert") + "\n"),
              "clusters[name=kind].cluster.certificate-authority-data: no PEM certificate");
  check_error(kubeconfig_text("    tokenFile: /nonexistent/token\n"),
              "users[name=admin].user.tokenFile: cannot read /nonexistent/token");
  check_error(kubeconfig_text("    client-certificate-data: " + base64("x") + "\n"),
              "users[name=admin].user.client-key: missing");
  check_error(kubeconfig_text("    token: t\n", "    insecure-skip-tls-verify: maybe\n"),
              "clusters[name=kind].cluster.insecure-skip-tls-verify: must be true or false");
  check_error("apiVersion: v1\nclusters: []\n", "current-context: missing");
  check_error("current-context: nope\ncontexts: []\n", "contexts: no context named \"nope\"");
  check_error("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n",
              "contexts[name=c].context.cluster: no cluster named \"k\"");
  check_error("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\nclusters:\n- name: k\n  cluster: {server: "
              "'10.0.0.1:6443'}\n",
              "clusters[name=k].cluster.server: \"10.0.0.1:6443\" is not an http:// or https:// URL");
  check_error("key: [unclosed", "not valid YAML");
  CHECK(load_error(dir.file("missing")) == dir.file("missing") + ": cannot read kubeconfig");
}

TEST_CASE("in-cluster config: service account files and environment", "[kubeapi][config]") {
  TempDir dir;
  TestCert cert = make_test_cert();
  write_file(dir.file("token"), "sa-token\n");
  write_file(dir.file("ca.crt"), cert.cert_pem);
  write_file(dir.file("namespace"), "kube-system");
  InClusterEnv env{"10.96.0.1", "443", dir.path()};
  KubeConfig c;
  REQUIRE(load_in_cluster_config(env, c));
  CHECK(c.server == "https://10.96.0.1:443");
  CHECK(c.token_file == dir.file("token"));
  CHECK(c.token.empty());  // read from the file on every connect instead
  CHECK(c.ca_file == dir.file("ca.crt"));
  CHECK(c.namespace_ == "kube-system");

  env.host = "fd00:10:96::1";
  REQUIRE(load_in_cluster_config(env, c));
  CHECK(c.server == "https://[fd00:10:96::1]:443");

  InClusterEnv missing{"", "", dir.path()};
  Status s = load_in_cluster_config(missing, c);
  CHECK(s.message().find("KUBERNETES_SERVICE_HOST") != std::string::npos);

  write_file(dir.file("token"), "\n");
  s = load_in_cluster_config(env, c);
  CHECK(s.message() == "in-cluster config: token file " + dir.file("token") + " is empty");
}

TEST_CASE("in-cluster config: environment variables are read", "[kubeapi][config]") {
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  InClusterEnv env = InClusterEnv::from_environment();
  CHECK(env.host == "10.96.0.1");
  CHECK(env.port == "6443");
  CHECK(env.dir == "/var/run/secrets/kubernetes.io/serviceaccount");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_CASE("base64 decoding accepts wrapped input and rejects garbage", "[kubeapi][config]") {
  std::string out;
  REQUIRE(decode_base64("aGVs\nbG8=\n", out));
  CHECK(out == "hello");
  CHECK_FALSE(decode_base64("a$b", out));
}
