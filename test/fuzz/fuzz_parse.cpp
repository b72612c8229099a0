// libFuzzer target for the manifest parser: any bytes through
// parse_manifests() (JSON or YAML) and, when they are JSON, decode_object().
// Nothing may crash, hang or throw, and every error must be printable ASCII.
//
// Build and run (clang; a separate CMake project, see CMakeLists.txt here):
//   cmake -S test/fuzz -B /tmp/fuzz -DCMAKE_CXX_COMPILER=clang++ && cmake --build /tmp/fuzz -j2
//   /tmp/fuzz/fuzz_parse -max_total_time=300 -timeout=5 /tmp/fuzz-corpus test/unit/data/bad test/conformance/recipes
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bpfence/parse.h"

namespace {

void check(const bpfence::ParseResult& r) {
  for (const auto& e : r.errors)
    for (char c : e.str())
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
  // Accepted objects are the kind the rest of bpfence can serve as JSON.
  for (const auto& o : r.objects) {
    if (const auto* np = std::get_if<bpfence::NetworkPolicy>(&o))
      for (const auto& rule : np->ingress)
        for (const auto& port : rule.ports)
          if (port.end_port && (!port.port || *port.end_port < *port.port)) std::abort();
    if (const auto* cnp = std::get_if<bpfence::ClusterNetworkPolicy>(&o)) {
      if (cnp->priority < 0 || cnp->priority > 1000) std::abort();
      if (cnp->subject.namespaces.has_value() == cnp->subject.pods.has_value()) std::abort();
      for (const auto* rules : {&cnp->ingress, &cnp->egress})
        for (const auto& rule : *rules) {
          if (rule.peers.empty()) std::abort();
          for (const auto& p : rule.protocols)
            if (p.named_port.empty() && (p.port == 0 || p.end_port < p.port)) std::abort();
        }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check(bpfence::parse_manifests(text, "fuzz.yaml"));
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) check(bpfence::decode_object(value));
  return 0;
}
