// A header the program needs in the paged part of the skb, not the linear
// one: the parser must pull it in and read it, never take the packet for a
// truncated one. BPF_PROG_TEST_RUN only makes linear skbs, so the packet
// comes from a TAP device with IFF_NAPI_FRAGS: the first iovec of a write
// lands in the linear part, the rest in page fragments. GRO pulls the IP
// header in, but not an ICMP header (no ICMP offload), which stays paged
// when the program sees the packet at the TAP's ingress (from_pod).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "cluster.h"
#include "fixture.h"
#include "packets.h"
#include "unique_fd.h"

using namespace bpfence;
using namespace bpfence::testdp;
using namespace bpfence::testpkt;

namespace {

// A TAP device named with the pid; closing the fd removes it.
struct FragsTap {
  std::string name = "bftap" + std::to_string(::getpid());
  UniqueFd fd{::open("/dev/net/tun", O_RDWR | O_CLOEXEC)};

  FragsTap() {
    if (!fd) throw std::runtime_error("open /dev/net/tun");
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) throw std::runtime_error("TUNSETIFF " + name);
    sh("ip link set " + name + " up");
  }
};

}  // namespace

TEST_CASE("a transport header in the paged part of the skb is pulled in and parsed", "[veth]") {
  FragsTap tap;
  Fixture f;
  Compiler& c = f.compiler();
  c.upsert(make_ns("dev"));
  c.upsert(make_pod("dev", "web", {{"app", "web"}}, {"10.200.0.2"}));
  // Nothing may leave the pod: the echo is dropped by policy, and recorded
  // under its echo id only if its ICMP header was read.
  c.upsert(egress_policy("dev", "web-no-egress", {{"app", "web"}}, {}));
  f.use_interface("dev/web", tap.name);
  f.commit();

  const uint16_t id = 0x4242;
  Bytes frame = eth4(ipv4("10.200.0.2", "10.200.0.1", 1, cat(icmp(8, id), Bytes(32, 0xab))));
  constexpr size_t kLinear = 14 + 20;  // Ethernet + IPv4: the ICMP header starts in a fragment
  bf_counter invalid = f.counter(BF_ACT_DROP, BF_R_INVALID);
  iovec iov[2] = {{frame.data(), kLinear}, {frame.data() + kLinear, frame.size() - kLinear}};
  REQUIRE(::writev(tap.fd.get(), iov, 2) == static_cast<ssize_t>(frame.size()));

  // The write hands the packet to the stack before it returns (NAPI
  // completed in the writer's context).
  auto fl = f.flow("dev/web", BF_DIR_EGRESS, "10.200.0.2", "10.200.0.1", 1, id, id);
  REQUIRE(fl);
  CHECK(fl->action == BF_ACT_DROP);
  CHECK(fl->reason == BF_R_FW_POLICY);
  CHECK(fl->packets == 1);
  CHECK(fl->bytes == frame.size());
  CHECK(f.counter(BF_ACT_DROP, BF_R_INVALID).packets == invalid.packets);
}
