// Command-line options for the `bpfence` subcommands: a small declarative
// parser (--name VALUE, --name=VALUE, short aliases, flags, repeatable
// values) and the options every command shares (--node, --bpffs,
// --pin-dir, --agent, -o, --manifests).
//
// Not getopt: commands are also run in-process by tests, many times, and
// getopt's global state does not reset cleanly.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "bpfence/result.h"
#include "command.h"

namespace bpfence::cli {

class OptionParser {
 public:
  OptionParser(std::string usage, std::string description);

  // `names` like "--node" or "-o,--output". Values are stored on parse().
  void flag(const std::string& names, bool* out, std::string help);
  void value(const std::string& names, std::string* out, std::string metavar, std::string help);
  void values(const std::string& names, std::vector<std::string>* out, std::string metavar, std::string help);
  void number(const std::string& names, long* out, std::string metavar, std::string help);

  // Fills the outputs; positional arguments go to `positional` (an error if
  // it is null and some are given). `help_requested` is set by -h/--help.
  Status parse(const Args& args, std::vector<std::string>* positional, bool* help_requested) const;
  void print_help(std::ostream& out) const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string metavar;  // "" for flags
    std::string help;
    std::function<Status(const std::string&)> set;
  };
  const Option* find(const std::string& name) const;

  std::string usage_, description_;
  std::vector<Option> options_;
};

enum class OutputFormat { Table, Json };

// What every command accepts.
struct CommonOptions {
  std::string node;
  std::string bpffs = "/sys/fs/bpf";
  std::string pin_dir;
  std::string agent = "127.0.0.1:9617";
  std::string output = "table";
  std::string manifests;  // offline: compile these instead of asking the agent
  bool no_agent = false;

  void add_to(OptionParser& parser);
  // Checks -o.
  Status validate() const;
  OutputFormat format() const { return output == "json" ? OutputFormat::Json : OutputFormat::Table; }
  // --pin-dir, else <bpffs>/bpfence/<node>; with no --node, the only node
  // folder under <bpffs>/bpfence (or `agent_node` when the agent said).
  Status resolve_pin_dir(const std::string& agent_node, std::string* out) const;
};

// Where a command writes: std::cout/std::cerr from main, string streams in
// tests that run commands in-process.
struct CommandIo {
  std::ostream& out;
  std::ostream& err;
};

}  // namespace bpfence::cli
