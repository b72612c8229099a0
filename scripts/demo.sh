#!/usr/bin/env bash
# The README's first command: installs what is missing and builds the agent
# and the CLI, nothing else (setup.sh; scripts/test.sh builds the rest), then
# tells the stories of DESIGN.md on simulated nodes with real packets
# (`bpfence demo`). Needs root: network namespaces and BPF.
# Usage: sudo scripts/demo.sh [bpfence demo options, e.g. --nodes 3]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo scripts/demo.sh): it creates network namespaces and loads BPF" >&2; exit 1; }
BPFENCE_SETUP_TARGETS="bpfence-agent bpfence" scripts/setup.sh
build=${BPFENCE_BUILD_DIR:-build}
for bin in "$build/bpfence" "$build/agent/cli/bpfence"; do
  if [ -x "$bin" ]; then exec "$bin" demo "$@"; fi
done
echo "demo: no bpfence binary under $build (did the build fail?)" >&2
exit 1
