// How to reach the Kubernetes API server: read from a kubeconfig file
// (`--kubeconfig`) or from the pod's service account (in-cluster config).
//
// Only what bpfence needs is read: the current context's cluster (server, CA,
// insecure-skip-tls-verify) and user (bearer token or token file, client
// certificate). Exec plugins and auth providers are rejected with an error
// naming the field, rather than silently connecting unauthenticated.
#pragma once

#include <string>

#include "bpfence/result.h"

namespace bpfence {

struct KubeConfig {
  // "https://10.0.0.1:6443" or "http://127.0.0.1:8001/prefix" (kubectl proxy).
  std::string server;
  // Trust anchors for the server: a PEM file path, or PEM text (decoded from
  // certificate-authority-data). Neither: the system's default CAs.
  std::string ca_file;
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // A static token, or a file holding one; the file is re-read on every
  // (re)connect because the kubelet rotates projected service account tokens.
  std::string token;
  std::string token_file;
  // The kubeconfig (and context) this came from, "" for in-cluster: an
  // inline token is re-read from it on every (re)connect too, so a token
  // pasted into the file (`kubectl create token`) is used without a restart.
  std::string kubeconfig_path;
  std::string context;
  // Client certificate and key: file paths or PEM text.
  std::string client_cert_file;
  std::string client_key_file;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_;  // the context's (or service account's) namespace
  // Where this came from, for describe() and error messages:
  // "kubeconfig /root/.kube/config context admin@kind" or "in-cluster".
  std::string origin;
};

// Reads a kubeconfig. `context` empty means current-context. Relative file
// paths in it are resolved against the kubeconfig's folder, as kubectl does.
// Errors name the file and the field ("users[name=admin].user.token").
Status load_kubeconfig(const std::string& path, KubeConfig& out, const std::string& context = "");

// Where in-cluster config is read from. Defaults are the Kubernetes ones;
// tests point them elsewhere.
struct InClusterEnv {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount";

  static InClusterEnv from_environment();
};

// Builds the config a pod gets from its service account: https to
// host:port, CA dir/ca.crt, token file dir/token (re-read on reconnect),
// namespace from dir/namespace (optional).
Status load_in_cluster_config(const InClusterEnv& env, KubeConfig& out);

// Reads a token file: its content without surrounding whitespace. An empty
// file is an error (the kubelet writes tokens atomically, so this means a
// wrong path rather than a race).
Status read_token_file(const std::string& path, std::string& token);

// Decodes base64 (as in *-data fields; whitespace and newlines allowed).
Status decode_base64(const std::string& text, std::string& out);

}  // namespace bpfence
