#!/usr/bin/env bash
# Hardening stage (CI runs it after scripts/test.sh; see DECISIONS.md):
#  1. libFuzzer targets (test/fuzz, clang): the kept crash inputs replayed,
#     then each target fuzzed for a bounded time from its committed corpus.
#  2. The project built with ASan + UBSan (-DBPFENCE_SANITIZE=ON, own build
#     dir) and its unit, e2e and datapath tests run there.
# Fails on any crash, sanitizer report or failing test.
#
# Needs what scripts/setup.sh installs (clang 14 with libFuzzer, the
# libraries); datapath and e2e tests need root.
# Env: FUZZ_SECONDS (per target, default 60), HARDEN_LABELS (ctest label
# regex, default "unit|e2e|datapath"), BPFENCE_FUZZ_BUILD_DIR (build-fuzz),
# BPFENCE_ASAN_BUILD_DIR (build-asan), HARDEN_SKIP_FUZZ=1, HARDEN_SKIP_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
fuzz_seconds=${FUZZ_SECONDS:-60}
labels=${HARDEN_LABELS:-unit|e2e|datapath}
# The six ClusterNetworkPolicy conformance runs (label cluster) repeat the
# same agent code over 25,000 probes each: ten minutes more under ASan for
# nothing the cnp e2e and unit tests do not already run sanitized.
exclude=${HARDEN_EXCLUDE_LABELS:-cluster}
fuzz_build=${BPFENCE_FUZZ_BUILD_DIR:-build-fuzz}
asan_build=${BPFENCE_ASAN_BUILD_DIR:-build-asan}
jobs=$(nproc)
summary=()

log() { echo "level=info msg=\"$1\"${2:+ $2}"; }
elapsed() { echo $(($(date +%s) - started)); }

if [ "${HARDEN_SKIP_FUZZ:-0}" != 1 ]; then
  log "fuzz: build" "dir=$fuzz_build"
  cmake -S test/fuzz -B "$fuzz_build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$fuzz_build" -j"$jobs"
  for target in fuzz_parse fuzz_watch_decoder fuzz_watch_events; do
    bin="$fuzz_build/$target"
    artifacts="$fuzz_build/artifacts/$target"
    mkdir -p "$artifacts"
    # Inputs that once crashed (fixed since) must stay fixed: run each once.
    if [ -d "test/fuzz/regressions/$target" ]; then
      log "fuzz: replay regressions" "target=$target"
      "$bin" -runs=0 "test/fuzz/regressions/$target"
    fi
    # New inputs go to a scratch corpus; the committed one is only read.
    work=$(mktemp -d)
    out="$fuzz_build/$target.log"
    log "fuzz: run" "target=$target seconds=$fuzz_seconds"
    dict=()
    [ -f "test/fuzz/$target.dict" ] && dict=(-dict="test/fuzz/$target.dict")
    rc=0
    "$bin" "${dict[@]}" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work" "test/fuzz/corpus/$target" >"$out" 2>&1 || rc=$?
    rm -rf "$work"
    execs=$(sed -n "s/^Done \([0-9]*\) runs.*/\1/p" "$out" | tail -1)
    if [ "$rc" != 0 ]; then
      tail -60 "$out"
      echo "level=error msg=\"fuzz: finding\" target=$target rc=$rc artifacts=$artifacts log=$out"
      exit 1
    fi
    summary+=("fuzz $target: ${execs:-?} executions in ${fuzz_seconds} s, no finding")
    log "fuzz: done" "target=$target executions=${execs:-?}"
  done
fi

if [ "${HARDEN_SKIP_ASAN:-0}" != 1 ]; then
  log "asan: build" "dir=$asan_build"
  # Debug (-O0, asserts on): compiles much faster with ASan than -O2, and
  # the tests are bound by I/O and sleeps rather than CPU.
  cmake -S . -B "$asan_build" -DCMAKE_BUILD_TYPE=Debug -DBPFENCE_SANITIZE=ON >/dev/null
  cmake --build "$asan_build" -j"$jobs"
  # Any sanitizer report ends the process with an error, so the test fails.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  log "asan: ctest" "labels=$labels" "excluded=$exclude"
  (cd "$asan_build" && ctest --output-on-failure --timeout 900 -j2 -L "$labels" ${exclude:+-LE "$exclude"})
  summary+=("asan+ubsan: ctest -L '$labels' -LE '$exclude' passed")
fi

for line in "${summary[@]}"; do log "harden: $line"; done
log "harden: passed" "seconds=$(elapsed)"
