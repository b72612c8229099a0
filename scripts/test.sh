#!/usr/bin/env bash
# Runs every test: installs dependencies, builds, then ctest (labels unit,
# datapath, e2e). Datapath and e2e tests need root; outside CI they skip
# loudly without it, in CI they fail.
# Usage: scripts/test.sh [ctest options, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${BPFENCE_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure --timeout 600 -j2 "$@"
