// `bpfence flow`: the node's flow table, read straight from the pinned maps
// (it works while the agent is down), with names from the agent or from
// --manifests; `--follow` streams drop events from the `events` ring buffer.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <time.h>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>

#include "bpfence/datapath_abi.h"
#include "bpfence/reasons.h"
#include "cli_agent_flows.h"
#include "cli_context.h"
#include "cli_flows.h"
#include "command.h"

namespace bpfence::cli {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct FollowState {
  const CommandIo* io;
  const Context* ctx;
  FlowSnapshot snap;  // endpoints only, refreshed when an event names a new one
  const FlowFilter* filter;
  bool all = false;
  bool json = false;
  long limit = 0;
  long printed = 0;
  uint64_t start_ns = 0;  // events from before --follow started are old news
};

bool knows_endpoint(const FlowSnapshot& snap, uint32_t id) {
  for (const auto& e : snap.endpoints)
    if (e.endpoint.endpoint_id == id) return true;
  return false;
}

int on_event(void* opaque, void* data, size_t size) {
  auto* st = static_cast<FollowState*>(opaque);
  if (size < sizeof(bf_event)) return 0;
  bf_event ev;
  std::memcpy(&ev, data, sizeof ev);
  if (ev.ts_ns < st->start_ns) return 0;
  if (ev.type != BF_EV_DROP && !(st->all && ev.type == BF_EV_NEW_FLOW)) return 0;
  // A new flow that is dropped also comes as a drop event right after.
  if (ev.type == BF_EV_NEW_FLOW && ev.action == BF_ACT_DROP) return 0;
  bf_flow_value v{};
  v.action = ev.action;
  v.reason = ev.reason;
  v.rule_id = ev.rule_id;
  if (!st->filter->match.matches(ev.key, v)) return 0;
  if (!st->filter->pod_ips.empty()) {
    FlowSnapshot one;
    one.flows.push_back({ev.key, v});
    one.endpoints = st->snap.endpoints;
    if (flow_rows(one, *st->filter).empty()) return 0;
  }
  if (!knows_endpoint(st->snap, ev.key.endpoint_id)) {
    PinnedMaps maps;
    if (maps.open(st->snap.pin_dir)) (void)maps.endpoints(&st->snap.endpoints);
  }
  // The event carries CLOCK_MONOTONIC; print wall-clock time.
  uint64_t mono = monotonic_now_ns(), wall = realtime_ns();
  uint64_t when = wall - (mono > ev.ts_ns ? mono - ev.ts_ns : 0);
  if (st->json)
    st->io->out << event_json(ev, when, st->snap, st->ctx->names).dump() << "\n";
  else
    st->io->out << event_line(ev, when, st->snap, st->ctx->names) << "\n";
  st->io->out.flush();
  if (st->io->out.fail()) g_stop = 1;  // the reader went away
  if (st->limit && ++st->printed >= st->limit) g_stop = 1;
  return 0;
}

int follow(const CommandIo& io, const Context& ctx, const std::string& pin_dir, const FlowFilter& filter, bool all,
           long limit) {
  std::string path = pin_dir + "/events";
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    io.err << "bpfence: " << path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  FollowState st{&io, &ctx, {}, &filter, all, ctx.common.format() == OutputFormat::Json, limit, 0,
                 monotonic_now_ns()};
  st.snap.pin_dir = pin_dir;
  {
    PinnedMaps maps;
    if (maps.open(pin_dir)) (void)maps.endpoints(&st.snap.endpoints);
  }
  ring_buffer* rb = ring_buffer__new(fd, on_event, &st, nullptr);
  if (!rb) {
    io.err << "bpfence: " << path << ": ring buffer: " << std::strerror(errno) << "\n";
    close(fd);
    return 1;
  }
  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGPIPE, &sa, nullptr);
  // On stderr, so scripts reading stdout (JSON lines) can wait for it.
  io.err << "following drops" << (all ? " and new flows" : "") << " in " << pin_dir << " (Ctrl-C to stop)" << std::endl;
  int rc = 0;
  while (!g_stop) {
    // The program wakes this reader only when a quarter of the buffer is
    // unread (a wakeup per event costs the datapath ~5 us): read what came
    // every BF_EVENTS_READ_MS whether woken or not.
    int n = ring_buffer__poll(rb, BF_EVENTS_READ_MS);
    if (n >= 0) n = ring_buffer__consume(rb);
    if (n < 0 && n != -EINTR) {
      io.err << "bpfence: " << path << ": poll: " << std::strerror(-n) << "\n";
      rc = 1;
      break;
    }
  }
  ring_buffer__free(rb);
  close(fd);
  return rc;
}

int run_flow(const Args& args, const CommandIo& io) {
  Context ctx;
  bool list = false, follow_mode = false, all = false;
  std::string match, proto, action, pod;
  long limit = 0;
  OptionParser p("bpfence flow -l | --match IP[:PORT][,IP[:PORT]...] [filters] [--follow [--all]]",
                 "The node's flow table from its pinned maps: each flow with its reverse (INDEX a<=>b),\n"
                 "the verdict (F, or D(reason) for a drop), the rule that allowed it or the policies\n"
                 "that isolate the pod, TCP flags, packets/bytes and ages. Works while the agent is\n"
                 "down; names come from the agent (or --manifests), ids are shown otherwise.");
  p.flag("-l,--list", &list, "list every flow (the default)");
  p.value("--match", &match, "TERMS",
          "flows matching all terms: IP, IP:PORT, [IPv6]:PORT, CIDR, :PORT,\n"
          "tcp|udp|sctp|icmp, forward|drop, D(Reason), ingress|egress\n"
          "(an IP term matches either end of the flow)");
  p.value("--proto", &proto, "PROTO", "tcp, udp, sctp, icmp (icmpv6)");
  p.value("--action", &action, "ACTION", "forward or drop");
  p.value("--pod", &pod, "NS/NAME", "flows at that pod's endpoint or to/from its IPs");
  p.flag("-f,--follow", &follow_mode, "stream drop events as they happen (the events ring buffer)");
  p.flag("--all", &all, "with --follow: new flows too (when the agent traces new flows)");
  p.number("--count", &limit, "N", "with --follow: stop after N events");
  ctx.common.add_to(p);
  if (auto rc = parse_command_line(p, args, nullptr, ctx.common, io)) return *rc;

  FlowFilter filter;
  std::string terms = match;
  if (!proto.empty()) {
    if (!parse_ip_proto(proto)) {
      io.err << "bpfence: --proto: \"" << proto << "\" is not a protocol (tcp, udp, sctp, icmp)\n";
      return 2;
    }
    terms += " " + proto;
  }
  if (!action.empty()) {
    if (action != "forward" && action != "drop") {
      io.err << "bpfence: --action: \"" << action << "\" is not forward or drop\n";
      return 2;
    }
    terms += " " + action;
  }
  if (Status s = FlowMatch::parse(terms, &filter.match); !s) {
    io.err << "bpfence: --match: " << s.message() << "\n";
    return 2;
  }
  if (Status s = ctx.init(io.err); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  if (!pod.empty()) {
    const PodInfo* info = ctx.names.pod(pod);
    if (!info) {
      io.err << "bpfence: --pod " << pod << ": unknown pod"
             << (ctx.names.source.empty() ? " (no names: the agent is down; use --manifests DIR)" : "") << "\n";
      return 1;
    }
    filter.pod_ips = info->ips;
  }
  // An iptables node has no maps to read: its agent serves conntrack's
  // entries in the same form (agent/dataplane/iptables/README.md).
  if (ctx.agent_up && ctx.agent_dataplane == "iptables") {
    if (follow_mode) {
      io.err << "bpfence: --follow: the agent at " << ctx.agent.address()
             << " runs the iptables dataplane, which records no drop events (only counters)\n";
      return 1;
    }
    FlowSnapshot snap;
    if (Status s = agent_flow_snapshot(ctx.agent, ctx.agent_location + " (conntrack, via the agent)", &snap); !s) {
      io.err << "bpfence: " << s.message() << "\n";
      return 1;
    }
    auto rows = flow_rows(snap, filter);
    if (ctx.common.format() == OutputFormat::Json)
      io.out << flow_table_json(snap, rows, ctx.names).dump(2) << "\n";
    else
      print_flow_table(io.out, snap, rows, ctx.names);
    return 0;
  }
  std::string pin_dir;
  if (Status s = ctx.pin_dir(&pin_dir, io.err); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  if (follow_mode) return follow(io, ctx, pin_dir, filter, all, limit);

  FlowSnapshot snap;
  if (Status s = read_flow_snapshot(pin_dir, &snap); !s) {
    io.err << "bpfence: " << s.message() << "\n";
    return 1;
  }
  auto rows = flow_rows(snap, filter);
  if (ctx.common.format() == OutputFormat::Json)
    io.out << flow_table_json(snap, rows, ctx.names).dump(2) << "\n";
  else
    print_flow_table(io.out, snap, rows, ctx.names);
  return 0;
}

Command flow_command("flow", "the flow table and drops, from the pinned maps (--match, --follow)",
                            [](const Args& args) { return run_flow(args, {std::cout, std::cerr}); });

}  // namespace
}  // namespace bpfence::cli
