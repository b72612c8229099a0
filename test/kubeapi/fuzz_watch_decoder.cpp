// libFuzzer target for the watch stream decoder. Checks, for any bytes:
// no crash, bounded buffering, and that how the stream is chunked never
// changes what it decodes to (the first input byte picks the chunk size).
// Build: configure with clang++ and -DBPFENCE_FUZZ=ON, then
//   cmake --build B --target fuzz_watch_decoder && B/test/kubeapi/fuzz_watch_decoder -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "k8s/api_watch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 17;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kMax = 256;

  bpfence::WatchStreamDecoder whole(kMax), pieces(kMax);
  std::vector<bpfence::WatchEvent> e1, e2;
  std::vector<std::string> r1, r2;
  whole.feed(input, e1, r1);
  for (size_t at = 0; at < input.size(); at += chunk) {
    pieces.feed(input.substr(at, chunk), e2, r2);
    if (pieces.pending() > kMax) std::abort();
  }
  if (e1.size() != e2.size() || r1 != r2 || whole.pending() != pieces.pending()) std::abort();
  for (size_t i = 0; i < e1.size(); ++i) {
    if (e1[i].type != e2[i].type || e1[i].object != e2[i].object || !e1[i].object.is_object()) std::abort();
  }
  return 0;
}
