// Command-line options for the `bpfence` subcommands: a declarative list
// of options (--name VALUE, --name=VALUE, short aliases, flags, repeatable
// values) parsed and printed by CLI11, and the options every command shares
// (--node, --bpffs, --pin-dir, --agent, -o, --manifests).
//
// The parser is built afresh for every parse: commands are also run
// in-process by tests, many times, with no state carried over.
#pragma once

#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "bpfence/result.h"
#include "command.h"

namespace CLI {
class App;
}

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
    std::string names;  // as given: "-o,--output"
    std::string metavar;
    std::string help;
    // Where the value goes; its type says the kind of option (flag, value,
    // repeatable value, number).
    std::variant<bool*, std::string*, std::vector<std::string>*, long*> out;
  };

  // Declares every option on a CLI11 app. Values are checked by us, in our
  // words: the first bad one is kept in `error`.
  void declare(CLI::App& app, std::string* error) const;

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
