// The agent's log lines stay one parseable logfmt line whatever the text.
#include <catch2/catch.hpp>

#include "log.h"

using namespace bpfence;

TEST_CASE("log: quotes, backslashes and newlines are escaped; fmt pairs", "[log]") {
  using agentlog::Level;
  CHECK(agentlog::format_line(Level::info, "attached", "pod=dev/web ifindex=12") ==
        "level=info msg=\"attached\" pod=dev/web ifindex=12");
  CHECK(agentlog::format_line(Level::warn, "file \"a.yaml\" bad") == "level=warn msg=\"file \\\"a.yaml\\\" bad\"");
  CHECK(agentlog::q("plain") == "plain");
  CHECK(agentlog::q("") == "\"\"");
  CHECK(agentlog::q("map policy: full") == "\"map policy: full\"");
  CHECK(agentlog::q("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(agentlog::q("a\\b") == "\"a\\\\b\"");
  CHECK(agentlog::q("two\nlines") == "\"two\\nlines\"");
  CHECK(agentlog::q("k=v") == "\"k=v\"");
}

TEST_CASE("log: levels filter, names parse", "[log]") {
  using agentlog::Level;
  Level l = Level::info;
  CHECK(agentlog::parse_level("warning", &l));
  CHECK(l == Level::warn);
  CHECK_FALSE(agentlog::parse_level("loud", &l));
  agentlog::set_level(Level::warn);
  CHECK_FALSE(agentlog::enabled(Level::info));
  CHECK(agentlog::enabled(Level::error));
  agentlog::set_level(Level::info);
  CHECK(agentlog::enabled(Level::info));
  CHECK_FALSE(agentlog::enabled(Level::debug));
}
