#!/usr/bin/env bash
# The network benchmark in one command (issue 7): installs what it needs,
# builds the agent and the bench tools, measures ns/packet with
# datapath_bench for the same cluster sizes, then runs netbench (none / bpf /
# iptables side by side on lab nodes) and writes bench/results/<run>.json,
# bench/results/netbench.md and bench/results/plots/*.png.
#
# Usage (root): bench/run.sh [--quick] [netbench options...]
#   --quick   a try-out in a few minutes (results in bench/results/quick/)
#   BPFENCE_BUILD_DIR=DIR   build folder (default build/)
# See bench/README.md. Timings are measured, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (network namespaces, BPF)" >&2; exit 1; }
started=$(date +%s)

# 1. Packages. A fresh machine gets the project's own setup (its packages
# and bpffs; not its full build: step 2 builds what the bench runs); the
# bench adds gnuplot for the plots.
if ! command -v cmake >/dev/null || ! dpkg-query -W -f='${Status}' libbpf-dev 2>/dev/null | grep -q "ok installed"; then
  BPFENCE_SETUP_NO_BUILD=1 scripts/setup.sh
fi
scripts/install-missing.sh bench gnuplot-nox iperf3 iproute2 iptables ipset
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# 2. Build only what the bench runs.
build=${BPFENCE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target bpfence-agent netbench bench_netload datapath_bench

# 3. Options: the matrix (the same pairs go to datapath_bench) and the
# dataplanes this agent has.
quick=0
matrix="10@10000,100@10000,1000@10000,5000@10000,1000@100,1000@1000"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --quick) quick=1; matrix="10@1000,1000@1000" ;;
    --matrix) matrix="${args[$((i + 1))]}" ;;
  esac
done
out=bench/results
[ "$quick" = 1 ] && out=bench/results/quick
mkdir -p "$out"
extra=()
if ! "$build/agent/agentd/bpfence-agent" --help 2>&1 | grep -q iptables; then
  note="this bpfence-agent has no --dataplane iptables: measured none and bpf only"
  echo "bench: $note" >&2
  extra+=(--dataplanes none,bpf --note "$note")
fi

# 4. ns/packet of the BPF program (BPF_PROG_TEST_RUN) at the same sizes:
# policies entries on one endpoint, one identity per pod.
dp_json=$(mktemp /tmp/netbench-datapath.XXXXXX.json)
trap 'rm -f "$dp_json"' EXIT
repeat=100000 runs=3
[ "$quick" = 1 ] && repeat=50000 runs=1
"$build/bench/datapath_bench" --repeat "$repeat" --runs "$runs" --only "${matrix//@/:}" --json "$dp_json"

# 5. The side-by-side run.
"$build/bench/netbench" --out "$out" --datapath-json "$dp_json" "${extra[@]}" "$@"
echo "bench: done in $(( $(date +%s) - started )) s; report in $out/"
