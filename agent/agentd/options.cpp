// bpfence-agent's flags, parsed and documented by CLI11.
#include "options.h"

#include <CLI/CLI.hpp>

#include <charconv>

namespace bpfence {
namespace {

const char* kDescription =
    R"(usage: bpfence-agent --node NAME [SOURCE] [options]
       bpfence-agent --node NAME --uninstall [--bpffs DIR] [--dataplane KIND]

Enforces Kubernetes NetworkPolicy for the pods of one node with eBPF.
With no source flag, the Kubernetes API with in-cluster config when
KUBERNETES_SERVICE_HOST is set (service account token, CA,
KUBERNETES_SERVICE_PORT).
)";

const char* kFooter = R"(
Stopping the agent (SIGTERM, SIGINT, or a crash) leaves the programs attached
and the maps pinned: the node keeps enforcing the last applied state, and a
restarted agent adopts it without dropping established connections.

HTTP API: /healthz /readyz /metrics /v1/status /v1/endpoints /v1/pods
/v1/flows?match=... /v1/rules /v1/policies /v1/verdict?from=IP&to=IP&proto=tcp&port=80)";

// CLI11's layout with our usage text in place of its one-line usage.
class AgentHelpFormatter : public CLI::Formatter {
 public:
  AgentHelpFormatter() {
    column_width(24);
  }
  std::string make_description(const CLI::App* app) const override { return app->get_description() + "\n"; }
  std::string make_usage(const CLI::App*, std::string) const override { return ""; }
};

// A whole number >= `min`, or `error` says which flag got what:
// --max-flows: "8" is not a number of entries (at least 16).
template <class T>
std::function<void(const std::string&)> whole_number(T* out, T min, std::string* error, std::string flag,
                                                     std::string expected) {
  return [=](const std::string& v) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    if ((ec != std::errc() || p != v.data() + v.size() || *out < min) && error->empty())
      *error = flag + ": \"" + v + "\" is not " + expected;
  };
}

// Declares every flag of the agent on `app`, storing into `o`. Range
// errors land in `error`.
void declare(CLI::App& app, AgentOptions& o, std::string* error) {
  app.description(kDescription);
  app.footer(kFooter);
  app.formatter(std::make_shared<AgentHelpFormatter>());
  // A flag given twice keeps its last value, as before CLI11.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto text = [&](const char* name, std::string& out, const char* metavar, const char* help) {
    return app.add_option(name, out, help)->type_name(metavar);
  };
  auto number = [&](const char* name, auto* out, auto min, const char* expected, const char* help) {
    return app.add_option_function<std::string>(name, whole_number(out, min, error, name, expected), help)
        ->type_name("N");
  };
  const std::string source = "Source (one of)";
  text("--manifests", o.manifests, "DIR",
       "every *.yaml, *.yml and *.json below DIR (Namespaces,\nPods, NetworkPolicies), watched with inotify: "
       "edits,\nnew files, renames and deletes apply at once")
      ->group(source);
  text("--kubeconfig", o.kubeconfig, "FILE", "list and watch the Kubernetes API with this kubeconfig")->group(source);
  app.set_help_flag("-h,--help", "this text");  // after the sources, so their group is listed first
  text("--node", o.node, "NAME", "this node's name: pods with spec.nodeName == NAME are\nenforced here (required)");
  text("--dataplane", o.dataplane, "KIND",
       "bpf (default), or iptables: the same state as ipsets\nand iptables chains (for comparison; flows "
       "from\nconntrack, see agent/dataplane/iptables/README.md)");
  text("--bpffs", o.bpffs, "DIR", "bpf filesystem; maps are pinned in DIR/bpfence/NAME\n(default /sys/fs/bpf)");
  text("--listen", o.listen, "ADDR:PORT",
       "HTTP API (read-only; default 127.0.0.1:9617). A\nnon-loopback address exposes /metrics and /v1/* "
       "to\nthe network: give it only if that is what you want");
  app.add_option("--host-ip", o.host_ips,
                 "an address of this node, always allowed to and from\npods (kubelet probes); repeatable. "
                 "Default: every\naddress of the node's interfaces")
      ->type_name("IP")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  text("--log-level", o.log_level, "LEVEL", "debug, info (default), warn, error");
  number("--sweep-interval", &o.sweep_interval_seconds, 1, "a positive number of seconds",
         "seconds between flow-table ageing passes (default 10)")
      ->type_name("S");
  number("--crd-recheck", &o.crd_recheck_seconds, 1, "a positive number of seconds",
         "with --kubeconfig or in a cluster: seconds between looks\nfor the ClusterNetworkPolicy CRD while it is not\n"
         "installed (default 30)")
      ->type_name("S");
  number("--max-flows", &o.max_flows, 16u, "a number of entries (at least 16)",
         "flow table entries (default 262144). A pinned table\nkeeps its size until --uninstall");
  number("--max-policy-entries", &o.max_policy, 16u, "a number of entries (at least 16)",
         "policy map entries (default 262144; tests)");
  app.add_flag("--trace-new-flows", o.trace_new_flows,
               "load the programs with a ring-buffer event for every\nnew flow, not only for drops (`bpfence flow "
               "--follow\n--all`); costs one event per new connection")
      ->disable_flag_override();
  app.add_flag("--uninstall", o.uninstall,
               "detach the programs from every interface and remove\nthe pinned maps, then exit")
      ->disable_flag_override();
  app.allow_extras();
}

}  // namespace

const char* agent_usage() {
  static const std::string text = [] {
    CLI::App app;
    AgentOptions o;
    std::string error;
    declare(app, o, &error);
    return app.help();
  }();
  return text.c_str();
}

Status parse_agent_options(const std::vector<std::string>& args, const std::string& kubernetes_service_host,
                           AgentOptions* out) {
  AgentOptions o;
  CLI::App app;
  std::string error;
  declare(app, o, &error);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes argv last-first
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    o.help = true;
    *out = o;
    return Status::ok();
  } catch (const CLI::ParseError& e) {
    // "uninstall was given a disallowed flag override": a flag given =VALUE.
    std::string what = e.what();
    if (what.ends_with("disallowed flag override"))
      return Status::error("--" + what.substr(0, what.find(' ')) + ": takes no value");
    // "--node: 1 required NAME missing": a flag at the end with no value.
    if (what.ends_with(" missing")) return Status::error(what.substr(0, what.find(':')) + ": missing value");
    return Status::error(what);
  }
  if (!error.empty()) return Status::error(error);
  if (!app.remaining().empty())
    return Status::error("unknown argument \"" + app.remaining().front() + "\" (see --help)");
  o.listen_given = app.count("--listen") > 0;
  if (o.node.empty()) return Status::error("--node is required (this node's name, as in spec.nodeName)");
  if (!o.manifests.empty() && !o.kubeconfig.empty())
    return Status::error("--manifests and --kubeconfig are exclusive: give one source");
  if (!o.uninstall && o.manifests.empty() && o.kubeconfig.empty()) {
    if (kubernetes_service_host.empty())
      return Status::error("no source: give --manifests DIR or --kubeconfig FILE (or run in a pod, where "
                           "KUBERNETES_SERVICE_HOST selects in-cluster config)");
    o.in_cluster = true;
  }
  *out = o;
  return Status::ok();
}

}  // namespace bpfence
