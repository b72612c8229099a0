#!/usr/bin/env bash
# Installs what bpfence needs on a Debian machine (when missing), mounts
# bpffs, and builds into build/. Both README commands start here.
# Usage: scripts/setup.sh [extra cmake -D options...]
#   BPFENCE_SETUP_NO_BUILD=1: packages and bpffs only (bench/run.sh builds
#   just the targets it runs).
#   BPFENCE_SETUP_TARGETS="t1 t2": build only these targets (scripts/demo.sh:
#   the agent and the CLI), and install only the packages a build needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# What configuring and building needs (the demo stops here).
build_packages=(
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool linux-libc-dev
  nlohmann-json3-dev libcpp-httplib-dev libyaml-cpp-dev catch2 libssl-dev libmnl-dev libcli11-dev libfmt-dev
  iproute2 procps ccache
)
# What the tests, benchmarks and the hardening stage run besides.
test_packages=(
  iptables ipset iperf3 conntrack
  debootstrap podman runc  # the image and its test (scripts/image.sh, label image)
  libclang-rt-14-dev  # libFuzzer and sanitizer runtimes for clang (scripts/harden.sh)
)
targets=(${BPFENCE_SETUP_TARGETS:-})
packages=("${build_packages[@]}")
((${#targets[@]})) || packages+=("${test_packages[@]}")

scripts/install-missing.sh setup "${packages[@]}"

# The datapath pins its maps under /sys/fs/bpf. A build alone does not need
# it (the Dockerfile's build stage cannot mount it): warn, do not fail.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf ||
    echo "setup: cannot mount bpffs on /sys/fs/bpf: building only (the agent, tests and demo need it)" >&2
fi

[ "${BPFENCE_SETUP_NO_BUILD:-0}" = 1 ] && exit 0
build=${BPFENCE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
target_args=()
for t in "${targets[@]}"; do target_args+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${target_args[@]}"
