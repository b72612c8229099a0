#!/usr/bin/env bash
# Installs what bpfence needs on a Debian machine (when missing), mounts
# bpffs, and builds into build/. Both README commands start here.
# Usage: scripts/setup.sh [extra cmake -D options...]
#   BPFENCE_SETUP_NO_BUILD=1: packages and bpffs only (bench/run.sh builds
#   just the targets it runs).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool linux-libc-dev
  nlohmann-json3-dev libcpp-httplib-dev libyaml-cpp-dev catch2 libssl-dev libcli11-dev libfmt-dev
  iptables ipset iproute2 iperf3 conntrack procps ccache
  libclang-rt-14-dev  # libFuzzer and sanitizer runtimes for clang (scripts/harden.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "setup: run as root to install packages" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The datapath pins its maps under /sys/fs/bpf.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

[ "${BPFENCE_SETUP_NO_BUILD:-0}" = 1 ] && exit 0
build=${BPFENCE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
