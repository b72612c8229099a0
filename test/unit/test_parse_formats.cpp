// What the parser accepts, as kubectl writes it: JSON and YAML, single
// objects, multi-document YAML, `kind: List`; what each scalar means; and
// the fields of Pods and Namespaces that policy depends on.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "bpfence/parse.h"
#include "bpfence/source.h"

using namespace bpfence;

namespace {

std::string errors_of(const ParseResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += "\n  " + e.str();
  return s;
}

// Parses text that must hold no error; returns its objects.
std::vector<Object> parse_ok(const std::string& text, const std::string& ns = "default") {
  ParseResult r = parse_manifests(text, "test.yaml", ns);
  INFO("errors:" << errors_of(r));
  REQUIRE(r.errors.empty());
  return r.objects;
}

template <typename T>
T only(const std::string& text) {
  auto objects = parse_ok(text);
  REQUIRE(objects.size() == 1);
  REQUIRE(std::holds_alternative<T>(objects[0]));
  return std::get<T>(objects[0]);
}

NetworkPolicy policy_with_ports(const std::string& ports_yaml) {
  return only<NetworkPolicy>(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  ingress:
  - ports:
)" + ports_yaml);
}

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Prefix prefix(const char* s) { return *Prefix::parse(s); }

const char* kPodJson = R"({
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "web-1", "namespace": "shop", "resourceVersion": "4711",
               "labels": {"app": "web", "tier": "frontend"}},
  "spec": {
    "nodeName": "node-a",
    "containers": [
      {"name": "app", "ports": [{"name": "http", "containerPort": 8080},
                                {"containerPort": 53, "protocol": "UDP"}]},
      {"name": "sidecar", "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}
    ]
  },
  "status": {"podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}]}
})";

}  // namespace

TEST_CASE("JSON: a single Pod with its labels, node, ports and dual-stack IPs", "[parse][json][pod]") {
  Pod pod = only<Pod>(kPodJson);
  CHECK(pod.key() == "shop/web-1");
  CHECK(pod.labels == Labels{{"app", "web"}, {"tier", "frontend"}});
  CHECK(pod.node_name == "node-a");
  CHECK(pod.resource_version == "4711");
  CHECK_FALSE(pod.host_network);
  CHECK(pod.ips == std::vector<IpAddress>{ip("10.244.1.5"), ip("fd00:10:244:1::5")});
  CHECK(pod.ips[0].is_v4());
  CHECK_FALSE(pod.ips[1].is_v4());
  CHECK(pod.ports == std::vector<ContainerPort>{{"http", 8080, Protocol::TCP},
                                                {"", 53, Protocol::UDP},
                                                {"metrics", 9090, Protocol::TCP}});
}

TEST_CASE("JSON: kind List as `kubectl get -o json` writes it; other kinds are counted as ignored",
          "[parse][json][list]") {
  ParseResult r = parse_manifests(R"({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
    "items": [
      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
      {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
      {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
       "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}},
      {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    ]})",
                                  "list.json");
  INFO(errors_of(r));
  CHECK(r.errors.empty());
  CHECK(r.ignored == 2);
  REQUIRE(r.objects.size() == 2);
  CHECK(key_of(r.objects[0]) == ObjectKey{"Namespace", "shop"});
  CHECK(key_of(r.objects[1]) == ObjectKey{"NetworkPolicy", "shop/deny"});
}

TEST_CASE("JSON: a typed list (PodList from the API) whose items carry no kind", "[parse][json][list]") {
  auto list = nlohmann::json::parse(R"({"apiVersion": "v1", "kind": "PodList", "metadata": {},
    "items": [{"metadata": {"name": "a", "namespace": "x"}, "status": {"podIP": "10.0.0.1"}},
              {"metadata": {"name": "b", "namespace": "x"}}]})");
  ParseResult r = decode_object(list);
  INFO(errors_of(r));
  CHECK(r.errors.empty());
  REQUIRE(r.objects.size() == 2);
  CHECK(key_of(r.objects[0]) == ObjectKey{"Pod", "x/a"});
  CHECK(std::get<Pod>(r.objects[0]).ips == std::vector<IpAddress>{ip("10.0.0.1")});
  // A pending pod has no IP yet: valid, with no addresses.
  CHECK(std::get<Pod>(r.objects[1]).ips.empty());
}

TEST_CASE("JSON: malformed JSON is reported with its position, and nothing loads", "[parse][json][validation]") {
  ParseResult r = parse_manifests("{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",,\n}", "bad.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.objects.empty());
  CHECK(r.errors[0].file == "bad.json");
  CHECK(r.errors[0].object == "document 1");
  CHECK_THAT(r.errors[0].message, Catch::StartsWith("invalid JSON: parse error at line 2"));
}

TEST_CASE("YAML: flow style that starts with `{` is read as YAML", "[parse][yaml]") {
  Namespace ns = only<Namespace>("{apiVersion: v1, kind: Namespace, metadata: {name: flow}}");
  CHECK(ns.name == "flow");
}

TEST_CASE("YAML: several documents with comments, empty documents and `...` end markers", "[parse][yaml]") {
  ParseResult r = parse_manifests(R"(# a comment before anything
%YAML 1.2
---
apiVersion: v1
kind: Namespace
metadata:
  name: one   # trailing comment
...
---
# an empty document
---
apiVersion: v1
kind: Namespace
metadata: {name: two}
---
---
apiVersion: v1
kind: Pod
metadata:
  name: broken
status:
  podIP: not-an-ip
)",
                                  "multi.yaml");
  REQUIRE(r.objects.size() == 2);
  CHECK(key_of(r.objects[0]) == ObjectKey{"Namespace", "one"});
  CHECK(key_of(r.objects[1]) == ObjectKey{"Namespace", "two"});
  // Documents are counted as YAML counts them: empty ones too.
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].object == "Pod default/broken");
  CHECK(r.errors[0].field == "status.podIP");
}

TEST_CASE("YAML: a malformed document names its line; the documents around it still load", "[parse][yaml][validation]") {
  ParseResult r = parse_manifests(R"(apiVersion: v1
kind: Namespace
metadata: {name: before}
---
apiVersion: v1
kind: Namespace
metadata:
  name: [unclosed
---
apiVersion: v1
kind: Namespace
metadata: {name: after}
)",
                                  "ns.yaml");
  REQUIRE(r.objects.size() == 2);
  CHECK(key_of(r.objects[0]) == ObjectKey{"Namespace", "before"});
  CHECK(key_of(r.objects[1]) == ObjectKey{"Namespace", "after"});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].object == "document 2");
  CHECK(r.errors[0].field.empty());
  // The line is counted in the whole file, not in the document.
  CHECK_THAT(r.errors[0].message, Catch::StartsWith("invalid YAML at line 9"));
  CHECK(r.errors[0].str().rfind("ns.yaml: document 2: invalid YAML at line 9", 0) == 0);
}

TEST_CASE("YAML: kind List with items", "[parse][yaml][list]") {
  auto objects = parse_ok(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: a}
)");
  REQUIRE(objects.size() == 2);
  CHECK(key_of(objects[1]) == ObjectKey{"Pod", "a/p"});
}

TEST_CASE("YAML: an empty file, or one of comments only, holds nothing and no error", "[parse][yaml]") {
  CHECK(parse_ok("").empty());
  CHECK(parse_ok("\n\n# nothing here\n---\n# nor here\n").empty());
}

TEST_CASE("YAML: CRLF line ends and a UTF-8 byte order mark are accepted", "[parse][yaml]") {
  auto objects = parse_ok("\xEF\xBB\xBF" "apiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: crlf\r\n---\r\n"
                          "apiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: second\r\n");
  REQUIRE(objects.size() == 2);
  CHECK(key_of(objects[1]) == ObjectKey{"Namespace", "second"});
}

TEST_CASE("YAML: anchors, aliases and merge keys are expanded", "[parse][yaml]") {
  NetworkPolicy p = only<NetworkPolicy>(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: anchors}
spec:
  podSelector: &web {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: *web
    ports:
    - &dns {port: 53, protocol: UDP}
    - <<: *dns
      protocol: TCP
)");
  CHECK(p.pod_selector.match_labels == Labels{{"app", "web"}});
  REQUIRE(p.ingress[0].peers.size() == 1);
  CHECK(p.ingress[0].peers[0].pod_selector->match_labels == Labels{{"app", "web"}});
  REQUIRE(p.ingress[0].ports.size() == 2);
  CHECK(p.ingress[0].ports[1].port == 53);
  CHECK(p.ingress[0].ports[1].protocol == Protocol::TCP);  // the explicit key wins over the merged one
}

TEST_CASE("scalars: a plain 80 is a port number; \"http\" and http are port names; \"80\" is not a port",
          "[parse][yaml][ports]") {
  CHECK(policy_with_ports("    - port: 80\n").ingress[0].ports[0].port == 80);
  CHECK(policy_with_ports("    - port: 0x50\n").ingress[0].ports[0].port == 80);

  for (const char* named : {"    - port: http\n", "    - port: \"http\"\n", "    - port: 'http'\n"}) {
    PolicyPort port = policy_with_ports(named).ingress[0].ports[0];
    CHECK_FALSE(port.port);
    CHECK(port.port_name == "http");
  }

  ParseResult r = parse_manifests(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: quoted}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: "80"
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].field == "spec.ingress[0].ports[0].port");
}

TEST_CASE("scalars: label values must be strings; quoted \"true\" and \"1.0\" are, plain true and 1.0 are not",
          "[parse][yaml][labels]") {
  Namespace ns = only<Namespace>(R"(apiVersion: v1
kind: Namespace
metadata:
  name: quoted
  labels: {enabled: "true", version: "1.0", empty: "", blank:, word: yes}
)");
  // A null label value reads as "", as Go decodes it; `yes` is a string (YAML 1.2).
  CHECK(ns.labels == Labels{{"enabled", "true"},
                            {"version", "1.0"},
                            {"empty", ""},
                            {"blank", ""},
                            {"word", "yes"},
                            {"kubernetes.io/metadata.name", "quoted"}});

  ParseResult r = parse_manifests(R"(apiVersion: v1
kind: Namespace
metadata:
  name: plain
  labels: {enabled: true, version: 1.0, count: 3, nothing: ~}
)");
  CHECK(r.objects.empty());
  std::vector<std::string> fields;
  for (const auto& e : r.errors) fields.push_back(e.field);
  CHECK(fields == std::vector<std::string>{"metadata.labels[count]", "metadata.labels[enabled]",
                                           "metadata.labels[version]"});
}

TEST_CASE("ports: a named port, a range with endPort, protocols and the TCP default", "[parse][ports]") {
  NetworkPolicy p = policy_with_ports(R"(    - port: dns-udp
      protocol: UDP
    - port: 32000
      endPort: 32767
    - protocol: SCTP
    - port: 443
      endPort: 443
)");
  const auto& ports = p.ingress[0].ports;
  REQUIRE(ports.size() == 4);
  CHECK(ports[0].port_name == "dns-udp");
  CHECK_FALSE(ports[0].port);
  CHECK(ports[0].proto() == Protocol::UDP);

  CHECK(ports[1].port == 32000);
  CHECK(ports[1].end_port == 32767);
  CHECK_FALSE(ports[1].protocol);
  CHECK(ports[1].proto() == Protocol::TCP);

  // No port: every port of the protocol.
  CHECK_FALSE(ports[2].port);
  CHECK(ports[2].port_name.empty());
  CHECK(ports[2].proto() == Protocol::SCTP);

  CHECK(ports[3].port == 443);
  CHECK(ports[3].end_port == 443);
}

TEST_CASE("peers: ipBlock with except, IPv4 and IPv6; selectors with every operator", "[parse][peers]") {
  NetworkPolicy p = only<NetworkPolicy>(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: nfs, namespace: storage}
spec:
  podSelector:
    matchLabels: {app: nfs}
    matchExpressions:
    - {key: tier, operator: In, values: [a, b]}
    - {key: env, operator: NotIn, values: [dev]}
    - {key: example.com/owner, operator: Exists}
    - {key: legacy, operator: DoesNotExist}
  ingress:
  - from:
    - ipBlock:
        cidr: 100.96.0.0/16
        except: [100.96.2.0/24]
    - ipBlock:
        cidr: fd00:100::/48
        except: ["fd00:100:0:2::/64"]
    - ipBlock: {cidr: 10.169.25.20/32}
    - ipBlock: {cidr: 10.1.2.3/8}
)");
  CHECK(p.key() == "storage/nfs");
  const auto& exprs = p.pod_selector.match_expressions;
  REQUIRE(exprs.size() == 4);
  CHECK(exprs[0].op == LabelRequirement::Op::In);
  CHECK(exprs[0].values == std::vector<std::string>{"a", "b"});
  CHECK(exprs[1].op == LabelRequirement::Op::NotIn);
  CHECK(exprs[2].op == LabelRequirement::Op::Exists);
  CHECK(exprs[2].key == "example.com/owner");
  CHECK(exprs[3].op == LabelRequirement::Op::DoesNotExist);

  const auto& peers = p.ingress[0].peers;
  REQUIRE(peers.size() == 4);
  CHECK(peers[0].ip_block->cidr == prefix("100.96.0.0/16"));
  CHECK(peers[0].ip_block->except == std::vector<Prefix>{prefix("100.96.2.0/24")});
  CHECK_FALSE(peers[1].ip_block->cidr.is_v4());
  CHECK(peers[1].ip_block->cidr == prefix("fd00:100::/48"));
  CHECK(peers[1].ip_block->except == std::vector<Prefix>{prefix("fd00:100:0:2::/64")});
  CHECK(peers[2].ip_block->cidr.user_len() == 32);
  // Host bits are cleared, as the API server's lenient parsing accepts them.
  CHECK(peers[3].ip_block->cidr == prefix("10.0.0.0/8"));
}

TEST_CASE("policyTypes are kept as written; `egress` is recorded present even when empty or null",
          "[parse][policy]") {
  auto policy = [](const std::string& spec_tail) {
    return only<NetworkPolicy>("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
                               "spec:\n  podSelector: {}\n" + spec_tail);
  };
  NetworkPolicy none = policy("");
  CHECK_FALSE(none.egress_present);
  CHECK(none.policy_types.empty());

  NetworkPolicy empty = policy("  egress: []\n");
  CHECK(empty.egress_present);
  CHECK(empty.egress.empty());
  CHECK_FALSE(empty.affects_egress());  // no rule and no policyTypes: ingress only

  CHECK(policy("  egress:\n").egress_present);

  NetworkPolicy both = policy("  policyTypes: [Ingress, Egress]\n  egress:\n  - {}\n");
  CHECK(both.policy_types == std::vector<std::string>{"Ingress", "Egress"});
  REQUIRE(both.egress.size() == 1);
  CHECK(both.egress[0].peers.empty());

  // `- ` with nothing is an empty rule (every peer, every port), as Go reads it.
  NetworkPolicy null_rule = policy("  ingress:\n  -\n");
  REQUIRE(null_rule.ingress.size() == 1);
  CHECK(null_rule.ingress[0].peers.empty());

  // No spec at all: an empty podSelector and no rules.
  NetworkPolicy bare = only<NetworkPolicy>(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bare}\n");
  CHECK(bare.pod_selector.empty());
  CHECK(bare.ingress.empty());
}

TEST_CASE("namespaces carry kubernetes.io/metadata.name, set to their name whatever the manifest says",
          "[parse][namespace]") {
  Namespace plain = only<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n");
  CHECK(plain.labels == Labels{{"kubernetes.io/metadata.name", "kube-system"}});

  Namespace labelled = only<Namespace>(R"(apiVersion: v1
kind: Namespace
metadata:
  name: prod
  namespace: ignored-for-namespaces
  resourceVersion: "12"
  labels:
    purpose: production
    kubernetes.io/metadata.name: something-else
)");
  CHECK(labelled.labels == Labels{{"purpose", "production"}, {"kubernetes.io/metadata.name", "prod"}});
  CHECK(labelled.resource_version == "12");
}

TEST_CASE("objects without metadata.namespace get the default namespace; explicit ones keep theirs",
          "[parse][namespace]") {
  const std::string text = R"(apiVersion: v1
kind: Pod
metadata: {name: a}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: other}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c, namespace: ""}
)";
  auto objects = parse_ok(text, "team-a");
  REQUIRE(objects.size() == 3);
  CHECK(key_of(objects[0]) == ObjectKey{"Pod", "team-a/a"});
  CHECK(key_of(objects[1]) == ObjectKey{"Pod", "other/b"});
  CHECK(key_of(objects[2]) == ObjectKey{"NetworkPolicy", "team-a/c"});

  // No default and no namespace: rejected, naming the field.
  ParseResult r = parse_manifests("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "f.yaml", "");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].object == "Pod a");
  CHECK(r.errors[0].field == "metadata.namespace");
}

TEST_CASE("pods: IPv6-only, podIP without podIPs, hostNetwork", "[parse][pod]") {
  Pod v6 = only<Pod>("apiVersion: v1\nkind: Pod\nmetadata: {name: v6}\nstatus:\n  podIPs:\n  - ip: 2001:db8::7\n");
  CHECK(v6.ips == std::vector<IpAddress>{ip("2001:db8::7")});
  CHECK_FALSE(v6.ips[0].is_v4());

  Pod legacy = only<Pod>("apiVersion: v1\nkind: Pod\nmetadata: {name: old}\nstatus: {podIP: 10.1.2.3}\n");
  CHECK(legacy.ips == std::vector<IpAddress>{ip("10.1.2.3")});

  Pod host = only<Pod>(R"(apiVersion: v1
kind: Pod
metadata: {name: kube-proxy-x, namespace: kube-system}
spec:
  hostNetwork: true
  nodeName: node-b
  containers:
  - name: kube-proxy
    image: registry.k8s.io/kube-proxy:v1.29.0
status:
  podIP: 192.168.1.10
)");
  CHECK(host.host_network);
  CHECK(host.node_name == "node-b");
  CHECK(host.ports.empty());
}

TEST_CASE("pods: fields bpfence does not read are left alone, even unknown ones in the spec", "[parse][pod]") {
  Pod pod = only<Pod>(R"(apiVersion: v1
kind: Pod
metadata:
  name: busy
  annotations: {a: b}
  ownerReferences: [{kind: ReplicaSet, name: busy-123}]
spec:
  someFutureField: {x: 1}
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    resources: {limits: {cpu: 100m}}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
)");
  CHECK(pod.name == "busy");
}

TEST_CASE("decode_object (API objects): never throws, reports non-objects and ignores unknown fields",
          "[parse][json][api]") {
  for (const char* text : {"null", "42", "\"text\"", "[1,2]", "{}", "{\"kind\": 7}", "{\"kind\": \"Pod\"}"}) {
    INFO(text);
    ParseResult r = decode_object(nlohmann::json::parse(text));
    CHECK(r.objects.empty());
  }
  CHECK(decode_object(nlohmann::json::parse("[1]")).errors.size() == 1);
  CHECK(decode_object(nlohmann::json::parse("{\"kind\":\"Pod\"}")).errors.front().field == "apiVersion");

  // A field a newer API server adds is ignored rather than rejected...
  auto np = nlohmann::json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "n", "namespace": "x", "uid": "u-1"},
    "spec": {"podSelector": {}, "futureField": true, "policyTypes": ["Ingress"]}, "status": {}})");
  ParseResult ok = decode_object(np);
  CHECK(ok.errors.empty());
  CHECK(ok.objects.size() == 1);
  // ...while invalid values still are.
  np["spec"]["policyTypes"] = {"Sideways"};
  ParseResult bad = decode_object(np, "", "default");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].object == "NetworkPolicy x/n");
  CHECK(bad.errors[0].field == "spec.policyTypes[0]");
}

TEST_CASE("ParseError::str() reads file: object: field: message, leaving out empty parts", "[parse]") {
  CHECK(ParseError{"p.yaml", "NetworkPolicy default/web", "spec.ingress[0]", "bad"}.str() ==
        "p.yaml: NetworkPolicy default/web: spec.ingress[0]: bad");
  CHECK(ParseError{"", "document 3", "", "invalid YAML"}.str() == "document 3: invalid YAML");
}

TEST_CASE("key_of names namespaces by name and other objects by namespace/name", "[parse]") {
  Namespace ns;
  ns.name = "shop";
  Pod pod;
  pod.namespace_ = "shop";
  pod.name = "web";
  NetworkPolicy np;
  np.namespace_ = "shop";
  np.name = "deny";
  CHECK(key_of(ns) == ObjectKey{"Namespace", "shop"});
  CHECK(key_of(pod) == ObjectKey{"Pod", "shop/web"});
  CHECK(key_of(np) == ObjectKey{"NetworkPolicy", "shop/deny"});
}

TEST_CASE("YAML: content a YAML reader could drop silently is an error, not an empty document",
          "[parse][yaml][validation]") {
  // A stray character before a document, and a second node with no `---`.
  for (const char* text : {",apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
                           "[a]\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
                           "\"x\"\nkind: Namespace\n"}) {
    INFO(text);
    ParseResult r = parse_manifests(text, "stray.yaml");
    CHECK(r.objects.empty());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].object == "document 1");
    CHECK_THAT(r.errors[0].message, Catch::StartsWith("invalid YAML at line"));
  }
  // Explicit nulls are empty documents, not errors.
  CHECK(parse_ok("~\n---\nnull # nothing\n---\n--- ~\n...\n").empty());
}

TEST_CASE("lists: an item without a usable name is named by its document and index", "[parse][list][validation]") {
  ParseResult r = parse_manifests(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: fine}
- apiVersion: v1
  kind: Namespace
  metadata: {labels: {a: b}}
- 42
)",
                                  "list.yaml");
  REQUIRE(r.objects.size() == 1);
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].object == "document 1 items[1]");
  CHECK(r.errors[0].field == "metadata.name");
  CHECK(r.errors[1].object == "document 1 items[2]");
  CHECK(r.errors[1].field.empty());
}

TEST_CASE("Pod annotation bpfence.io/allowed-source-prefixes: CIDRs of both families, spaces allowed",
          "[parse][yaml][pod]") {
  Pod pod = only<Pod>(R"(apiVersion: v1
kind: Pod
metadata:
  name: gw
  annotations:
    bpfence.io/allowed-source-prefixes: " fd00:9::/64, 10.9.0.0/16,10.9.0.0/16"
    other.example/ignored: "x"
spec: {containers: [{name: router}]}
)");
  // Sorted, duplicates once.
  CHECK(pod.allowed_source_prefixes == std::vector<Prefix>{prefix("10.9.0.0/16"), prefix("fd00:9::/64")});
  Pod plain = only<Pod>("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c}]}\n");
  CHECK(plain.allowed_source_prefixes.empty());
  CHECK_FALSE(plain.same_for_policy(pod));
}
