// The subcommands' option parser and the options they share.
#include "cli_options.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

namespace bpfence::cli {
namespace {

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> out;
  std::stringstream ss(names);
  for (std::string n; std::getline(ss, n, ',');)
    if (!n.empty()) out.push_back(n);
  return out;
}

}  // namespace

OptionParser::OptionParser(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

void OptionParser::flag(const std::string& names, bool* out, std::string help) {
  options_.push_back({split_names(names), "", std::move(help), [out](const std::string&) {
                        *out = true;
                        return Status::ok();
                      }});
}

void OptionParser::value(const std::string& names, std::string* out, std::string metavar, std::string help) {
  options_.push_back({split_names(names), std::move(metavar), std::move(help), [out](const std::string& v) {
                        *out = v;
                        return Status::ok();
                      }});
}

void OptionParser::values(const std::string& names, std::vector<std::string>* out, std::string metavar,
                          std::string help) {
  options_.push_back({split_names(names), std::move(metavar), std::move(help), [out](const std::string& v) {
                        out->push_back(v);
                        return Status::ok();
                      }});
}

void OptionParser::number(const std::string& names, long* out, std::string metavar, std::string help) {
  auto list = split_names(names);
  std::string name = list.back();
  options_.push_back({list, std::move(metavar), std::move(help), [out, name](const std::string& v) {
                        long n = 0;
                        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                        if (ec != std::errc() || p != v.data() + v.size() || n < 0)
                          return Status::error(name + ": \"" + v + "\" is not a number");
                        *out = n;
                        return Status::ok();
                      }});
}

const OptionParser::Option* OptionParser::find(const std::string& name) const {
  for (const auto& o : options_)
    if (std::find(o.names.begin(), o.names.end(), name) != o.names.end()) return &o;
  return nullptr;
}

Status OptionParser::parse(const Args& args, std::vector<std::string>* positional, bool* help_requested) const {
  *help_requested = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      *help_requested = true;
      return Status::ok();
    }
    if (a.size() < 2 || a[0] != '-') {
      if (!positional) return Status::error("unexpected argument \"" + a + "\"");
      positional->push_back(a);
      continue;
    }
    std::string name = a, inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
      has_inline = true;
    }
    const Option* o = find(name);
    if (!o) return Status::error("unknown option " + name);
    if (o->metavar.empty()) {
      if (has_inline) return Status::error("option " + name + " takes no value");
      if (Status s = o->set(""); !s) return s;
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) return Status::error("option " + name + " needs a value (" + o->metavar + ")");
      inline_value = args[++i];
    }
    if (Status s = o->set(inline_value); !s) return s;
  }
  return Status::ok();
}

void OptionParser::print_help(std::ostream& out) const {
  out << "usage: " << usage_ << "\n\n" << description_ << "\n\noptions:\n";
  for (const auto& o : options_) {
    std::string names;
    for (const auto& n : o.names) names += (names.empty() ? "" : ", ") + n;
    if (!o.metavar.empty()) names += " " + o.metavar;
    out << "  " << names;
    if (names.size() < 26)
      out << std::string(26 - names.size(), ' ');
    else
      out << "\n" << std::string(28, ' ');
    // Indent continuation lines of multi-line help under the first.
    std::string help = o.help;
    for (size_t p = help.find('\n'); p != std::string::npos; p = help.find('\n', p + 1))
      help.insert(p + 1, std::string(28, ' '));
    out << help << "\n";
  }
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
