// The subcommands' option parser (CLI11 underneath) and the options they
// share.
#include "cli_options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>

namespace bpfence::cli {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// CLI11's help layout with our usage line first: "usage: bpfence x ...".
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter(std::string usage, std::string description)
      : usage_(std::move(usage)), description_(std::move(description)) {
    column_width(28);
  }
  std::string make_description(const CLI::App*) const override {
    return "usage: " + usage_ + "\n\n" + description_ + "\n\n";
  }
  std::string make_usage(const CLI::App*, std::string) const override { return ""; }

 private:
  std::string usage_, description_;
};

}  // namespace

OptionParser::OptionParser(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

void OptionParser::flag(const std::string& names, bool* out, std::string help) {
  options_.push_back({names, "", std::move(help), out});
}

void OptionParser::value(const std::string& names, std::string* out, std::string metavar, std::string help) {
  options_.push_back({names, std::move(metavar), std::move(help), out});
}

void OptionParser::values(const std::string& names, std::vector<std::string>* out, std::string metavar,
                          std::string help) {
  options_.push_back({names, std::move(metavar), std::move(help), out});
}

void OptionParser::number(const std::string& names, long* out, std::string metavar, std::string help) {
  options_.push_back({names, std::move(metavar), std::move(help), out});
}

void OptionParser::declare(CLI::App& app, std::string* error) const {
  for (const auto& o : options_) {
    CLI::Option* opt = std::visit(
        Overloaded{
            [&](bool* out) { return app.add_flag_callback(o.names, [out] { *out = true; })->disable_flag_override(); },
            [&](std::string* out) {
              return app.add_option_function<std::string>(o.names, [out](const std::string& v) { *out = v; })
                  ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
            },
            [&](std::vector<std::string>* out) {
              return app
                  .add_option_function<std::vector<std::string>>(
                      o.names, [out](const std::vector<std::string>& v) { out->insert(out->end(), v.begin(), v.end()); })
                  ->allow_extra_args(false);
            },
            [&](long* out) {
              std::string name = o.names.substr(o.names.rfind(',') + 1);
              return app
                  .add_option_function<std::string>(o.names,
                                                    [out, name, error](const std::string& v) {
                                                      long n = 0;
                                                      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                                                      if (ec != std::errc() || p != v.data() + v.size() || n < 0) {
                                                        if (error->empty()) *error = name + ": \"" + v + "\" is not a number";
                                                        return;
                                                      }
                                                      *out = n;
                                                    })
                  ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
            }},
        o.out);
    opt->description(o.help);
    if (!o.metavar.empty()) opt->type_name(o.metavar);
  }
}

Status OptionParser::parse(const Args& args, std::vector<std::string>* positional, bool* help_requested) const {
  *help_requested = false;
  if (std::find_if(args.begin(), args.end(), [](const std::string& a) { return a == "-h" || a == "--help"; }) !=
      args.end()) {
    *help_requested = true;
    return Status::ok();
  }
  // CLI11 reads "-f=1" as the flag -f followed by "=1"; only long options
  // take "=VALUE".
  for (const auto& a : args)
    if (a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find('=') != std::string::npos)
      return Status::error("unknown option " + a);

  CLI::App app;
  app.allow_extras();
  std::string error;
  declare(app, &error);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    // "--node: 1 required NAME missing" or "follow was given a disallowed
    // flag override": the option's name leads the message.
    std::string what = e.what();
    std::string name = what.substr(0, what.find_first_of(": "));
    if (!name.starts_with("-")) name = "--" + name;
    for (const auto& o : options_) {
      std::string csv = "," + o.names + ",";
      if (csv.find("," + name + ",") == std::string::npos) continue;
      if (o.metavar.empty()) return Status::error("option " + name + " takes no value");
      return Status::error("option " + name + " needs a value (" + o.metavar + ")");
    }
    return Status::error(what);
  }
  if (!error.empty()) return Status::error(error);
  for (const auto& a : app.remaining()) {
    if (a.size() >= 2 && a[0] == '-') return Status::error("unknown option " + a.substr(0, a.find('=')));
    if (!positional) return Status::error("unexpected argument \"" + a + "\"");
    positional->push_back(a);
  }
  return Status::ok();
}

void OptionParser::print_help(std::ostream& out) const {
  CLI::App app;
  std::string error;
  declare(app, &error);
  app.formatter(std::make_shared<HelpFormatter>(usage_, description_));
  out << app.help();
}

void CommonOptions::add_to(OptionParser& parser) {
  parser.value("--node", &node, "NAME", "node whose pinned maps to read (default: the only one pinned)");
  parser.value("--bpffs", &bpffs, "DIR", "bpffs mount (default /sys/fs/bpf)");
  parser.value("--pin-dir", &pin_dir, "DIR", "pinned maps folder (default <bpffs>/bpfence/<node>)");
  parser.value("--agent", &agent, "ADDR:PORT", "the node agent's API (default 127.0.0.1:9617)");
  parser.flag("--no-agent", &no_agent, "do not ask the agent (ids instead of names)");
  parser.value("--manifests", &manifests, "DIR",
               "offline: pods and policies from these manifests (compiled\nlocally); the agent, if up, still names rule ids");
  parser.value("-o,--output", &output, "FORMAT", "table (default) or json");
}

Status CommonOptions::validate() const {
  if (output != "table" && output != "json")
    return Status::error("-o: \"" + output + "\" is not a format (table, json)");
  return Status::ok();
}

Status CommonOptions::resolve_pin_dir(const std::string& agent_node, std::string* out) const {
  if (!pin_dir.empty()) {
    *out = pin_dir;
    return Status::ok();
  }
  std::string n = node.empty() ? agent_node : node;
  if (!n.empty()) {
    *out = bpffs + "/bpfence/" + n;
    return Status::ok();
  }
  // One node per machine is the normal case; the lab has several.
  std::vector<std::string> nodes;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(bpffs + "/bpfence", ec))
    if (e.is_directory()) nodes.push_back(e.path().filename().string());
  std::sort(nodes.begin(), nodes.end());
  if (nodes.size() == 1) {
    *out = bpffs + "/bpfence/" + nodes.front();
    return Status::ok();
  }
  if (nodes.empty())
    return Status::error("no bpfence maps pinned under " + bpffs + "/bpfence (is the agent running? --pin-dir?)");
  std::string list;
  for (const auto& x : nodes) list += (list.empty() ? "" : ", ") + x;
  return Status::error("several nodes pinned under " + bpffs + "/bpfence (" + list + "): pick one with --node");
}

}  // namespace bpfence::cli
