#!/usr/bin/env bash
# A newcomer's first run, timed: from `git clone` to the demo's summary on a
# fresh Debian bookworm (debootstrap minbase plus git: no compiler, no
# ccache, none of the project's packages), in a privileged podman container
# on the host's network (apt reaches Debian's mirror; the lab makes its own
# network namespaces). What is timed is exactly
#   git clone REPO bpfence && cd bpfence && scripts/demo.sh
# Making the root filesystem is not (a fresh machine comes with one).
#
# Usage (root): bench/first_run.sh [REPO]   (default: this repository, HEAD)
# Env: BPFENCE_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "first_run: run as root (debootstrap, podman --privileged)" >&2; exit 1; }
repo=${1:-$PWD}
mirror=${BPFENCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/bpfence-first-run.XXXXXX)
image=localhost/bpfence-first-run:$$
cleanup() {
  podman rmi --force --ignore "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "first_run: debootstrap bookworm minbase + git (not timed)"
debootstrap --variant=minbase --include=git,ca-certificates bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }
tar --numeric-owner -C "$work/root" -c . | podman import --quiet - "$image" >/dev/null
rm -rf "$work/root"
# A bare copy the container can clone from (a worktree's .git points outside).
git clone --quiet --bare "$repo" "$work/repo.git"
commit=$(git -C "$work/repo.git" rev-parse --short HEAD)

echo "first_run: git clone ($commit) + scripts/demo.sh in a fresh container"
podman run --rm --privileged --runtime runc --network host --pid host \
  --ulimit nofile=16384:16384 --ulimit nproc=4096:4096 \
  -v "$work/repo.git:/repo.git:ro" "$image" bash -c '
    set -euo pipefail
    start=$(date +%s.%N)
    git clone --quiet /repo.git /root/bpfence
    cd /root/bpfence
    scripts/demo.sh
    end=$(date +%s.%N)
    awk -v a="$end" -v b="$start" -v n="$(nproc)" \
      "BEGIN { printf \"first_run: git clone to the demo summary: %.0f s (%d min %d s) on %d CPUs\\n\", a - b, (a - b) / 60, (a - b) % 60, n }"'
