#!/usr/bin/env bash
# What the TC hook itself costs a ping-pong, before bpfence decides anything.
#
# netbench reports bpf's transactions/s as a ratio to no enforcement. Part of
# the gap is not bpfence's program but the clsact hook and a BPF program run
# on each crossing. This script measures that part alone, on the path the
# lab's same-node traffic takes:
#
#   client netns --veth-- node netns (routes) --veth-- server netns
#
# and for each round, interleaved (A B A B): "none" (no qdisc), then "empty"
# (clsact with bpf/bench_empty.bpf.o, which returns TC_ACT_OK, on ingress and
# egress of both node-side veths: the four hooks bpfence attaches to), with
# client and server pinned to one CPU as netbench does. It prints each
# round's transactions/s and the median ratio empty/none. Never asserts.
#
# Usage (root): bench/hook_cost.sh [--rounds N] [--seconds S] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hook_cost.sh: run as root (network namespaces, TC)" >&2; exit 1; }

rounds=5 seconds=5 build=build
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: bench/hook_cost.sh [--rounds N] [--seconds S] [--build DIR]" >&2; exit 2 ;;
  esac
done
netload=$build/bench/bench_netload
empty_obj=$build/bpf/bench_empty.bpf.o
[ -x "$netload" ] && [ -f "$empty_obj" ] || {
  echo "hook_cost.sh: build first: cmake --build $build --target bench_netload datapath_bench" >&2
  exit 1
}
cpu=$(($(nproc) - 1))

# Names unique to this run; everything is removed on any exit.
tag=hc$$
cli=$tag-cli srv=$tag-srv node=$tag-node
server_pid=
cleanup() {
  # No errexit here: wait returns the server's signal status, and every
  # namespace must go whatever happened before.
  set +e
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  for ns in "$cli" "$srv" "$node"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT

for ns in "$cli" "$srv" "$node"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$node" link add hc type veth peer name eth0 netns "$cli"
ip -n "$node" link add hs type veth peer name eth0 netns "$srv"
ip -n "$node" addr add 10.250.0.1/24 dev hc
ip -n "$node" addr add 10.250.1.1/24 dev hs
ip -n "$cli" addr add 10.250.0.2/24 dev eth0
ip -n "$srv" addr add 10.250.1.2/24 dev eth0
for l in hc hs; do ip -n "$node" link set "$l" up; done
ip -n "$cli" link set eth0 up
ip -n "$srv" link set eth0 up
ip -n "$cli" route add default via 10.250.0.1
ip -n "$srv" route add default via 10.250.1.1
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1

ip netns exec "$srv" "$netload" serve --port 7000 --cpu "$cpu" &
server_pid=$!
sleep 0.5

attach_empty() {
  for l in hc hs; do
    ip netns exec "$node" tc qdisc add dev "$l" clsact
    for dir in ingress egress; do
      ip netns exec "$node" tc filter add dev "$l" "$dir" bpf direct-action obj "$empty_obj" sec tc
    done
  done
}
detach() {
  for l in hc hs; do ip netns exec "$node" tc qdisc del dev "$l" clsact 2>/dev/null || true; done
}
measure() {
  ip netns exec "$cli" "$netload" rr --to 10.250.1.2:7000 --seconds "$seconds" --cpu "$cpu" |
    sed -n 's/.*"per_second":\([0-9.]*\).*/\1/p'
}

none=() empty=()
for ((r = 1; r <= rounds; r++)); do
  detach
  none+=("$(measure)")
  attach_empty
  empty+=("$(measure)")
  detach
  echo "round $r: none ${none[-1]} trans/s, empty program on 4 hooks ${empty[-1]} trans/s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratios=()
for ((i = 0; i < rounds; i++)); do ratios+=("$(awk -v a="${empty[$i]}" -v b="${none[$i]}" 'BEGIN {printf "%.4f", a/b}')"); done
echo "median: none $(median "${none[@]}") trans/s, empty $(median "${empty[@]}") trans/s," \
  "ratio empty/none per round: ${ratios[*]} (median $(median "${ratios[@]}"))"
