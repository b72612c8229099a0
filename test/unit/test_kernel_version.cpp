// The minimum-kernel check the agent makes before loading the programs.
#include <catch2/catch.hpp>

#include "bpfence/kernel_version.h"

using namespace bpfence;

TEST_CASE("kernel release: parsed, compared with the minimum", "[kernel]") {
  auto v = parse_kernel_release("6.18.44-fc-v1300");
  REQUIRE(v);
  CHECK(v->major == 6);
  CHECK(v->minor == 18);
  CHECK(check_kernel_release("6.18.44-fc-v1300").is_ok());
  CHECK(check_kernel_release("5.11.0").is_ok());
  CHECK(check_kernel_release("5.15.0-91-generic").is_ok());
  Status old = check_kernel_release("5.10.0-28-amd64");
  REQUIRE_FALSE(old.is_ok());
  CHECK(old.message().find("kernel 5.10.0-28-amd64 is older than 5.11") == 0);
  CHECK_FALSE(check_kernel_release("4.19.0").is_ok());
  // Not a release we can read: the load decides.
  CHECK_FALSE(parse_kernel_release("unknown"));
  CHECK(check_kernel_release("unknown").is_ok());
}
