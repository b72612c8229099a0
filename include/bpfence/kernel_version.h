// The oldest kernel the BPF dataplane's programs load on, and the check the
// agent makes at start, so an old kernel gets one clear line instead of a
// verifier log. The newest kernel features the programs use:
// bpf_ktime_get_coarse_ns() (5.11), the BPF ring buffer (5.8), bounded
// loops (5.3). Tested on 6.18 only (README.md).
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "bpfence/result.h"

namespace bpfence {

struct KernelVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const KernelVersion&) const = default;
  std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
};

constexpr KernelVersion kMinKernel{5, 11};

// "6.18.44-fc-v1300" -> 6.18 (uname's release field).
inline std::optional<KernelVersion> parse_kernel_release(std::string_view release) {
  KernelVersion v;
  const char* end = release.data() + release.size();
  auto [p, ec] = std::from_chars(release.data(), end, v.major);
  if (ec != std::errc() || p == end || *p != '.') return std::nullopt;
  auto [q, ec2] = std::from_chars(p + 1, end, v.minor);
  if (ec2 != std::errc()) return std::nullopt;
  return v;
}

// An error naming the release and the minimum when it is older; a release
// that does not parse is let through (the load itself then decides).
inline Status check_kernel_release(std::string_view release) {
  auto v = parse_kernel_release(release);
  if (!v || *v >= kMinKernel) return Status::ok();
  return Status::error("kernel " + std::string(release) + " is older than " + kMinKernel.str() +
                       ", the oldest the BPF dataplane supports (bpf_ktime_get_coarse_ns, BPF ring buffer); "
                       "use a newer kernel or --dataplane iptables");
}

}  // namespace bpfence
