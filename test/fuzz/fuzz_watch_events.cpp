// libFuzzer target for the whole watch path the agent runs on API server
// bytes: WatchStreamDecoder (default line limit, so real objects get
// through) and then decode_object() on every event's object, as
// agent/sources/k8s/api_reflector.cpp does. Nothing may crash, hang or throw, and
// every error must be printable ASCII (they go to logs and /readyz).
// fuzz_watch_decoder (test/kubeapi) checks the chunking invariants.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bpfence/parse.h"
#include "k8s/api_watch_decoder.h"

namespace {

void printable(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpfence::WatchStreamDecoder decoder;
  std::vector<bpfence::WatchEvent> events;
  std::vector<std::string> errors;
  decoder.feed(std::string_view(reinterpret_cast<const char*>(data), size), events, errors);
  for (const auto& e : errors) printable(e);
  for (const auto& event : events) {
    if (!event.object.is_object()) std::abort();
    bpfence::ParseResult parsed = bpfence::decode_object(event.object);
    for (const auto& e : parsed.errors) printable(e.str());
  }
  return 0;
}
