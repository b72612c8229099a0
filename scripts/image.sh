#!/usr/bin/env bash
# Builds the image manifests/daemonset.yaml runs (the Dockerfile's image)
# on a machine that reaches no container registry, only Debian's mirror:
#   1. a minimal Debian bookworm root filesystem from debootstrap, holding
#      image/runtime-packages (cached under /var/cache/bpfence, one per day
#      and package list, so a second run skips it);
#   2. imported into podman as the base image (podman import);
#   3. the project's own agent and CLI, debug info stripped, copied on top
#      (image/Containerfile.local: no RUN step, so no container runtime is
#      needed to build);
#   4. tagged as the DaemonSet names it and saved as an OCI archive.
#
# Usage (root): scripts/image.sh [--tag IMAGE] [--out FILE] [--agent BIN --cli BIN]
#   --tag    default: the image of manifests/daemonset.yaml, as containerd
#            names it (docker.io/bpfence/bpfence:0.1.0)
#   --out    default: build/bpfence-image.oci.tar ("" to skip saving)
#   --agent, --cli  binaries to ship (default: build/ after building the two
#            targets with scripts/setup.sh)
# Env: BPFENCE_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      BPFENCE_IMAGE_CACHE (default /var/cache/bpfence).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "image: run as root (debootstrap, podman)" >&2; exit 1; }

# The DaemonSet's short name means docker.io/... to containerd and CRI-O:
# tag the image with the full name, so an imported archive matches it.
tag=$(sed -n 's/^ *image: *\([^ ]*\) *$/\1/p' manifests/daemonset.yaml | head -1)
case "${tag%%/*}" in *.* | *:* | localhost) ;; *) [ -n "$tag" ] && tag=docker.io/$tag ;; esac
out=build/bpfence-image.oci.tar
agent="" cli=""
while (($#)); do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --agent) agent=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    *) echo "image: unknown argument $1 (see the usage at the top of scripts/image.sh)" >&2; exit 2 ;;
  esac
done
[ -n "$tag" ] || { echo "image: no image in manifests/daemonset.yaml and no --tag" >&2; exit 1; }
started=$(date +%s)
log() { echo "image: $*"; }

scripts/install-missing.sh image debootstrap podman runc

if [ -z "$agent" ] || [ -z "$cli" ]; then
  BPFENCE_SETUP_TARGETS="bpfence-agent bpfence" scripts/setup.sh
  build=${BPFENCE_BUILD_DIR:-build}
  agent=$build/agent/agentd/bpfence-agent
  cli=$build/agent/cli/bpfence
fi

# 1. The base root filesystem, cached. The key changes with the day (security
# updates reach the image at most a day late) and with the package list.
mirror=${BPFENCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${BPFENCE_IMAGE_CACHE:-/var/cache/bpfence}
packages=$(grep -v '^#' image/runtime-packages | paste -sd, -)
key=$(date -u +%Y%m%d)-$(printf '%s\n%s\n' "$packages" "$mirror" | sha256sum | cut -c1-12)
base_tar=$cache/bookworm-rootfs-$key.tar
base_image=localhost/bpfence-base:$key
mkdir -p "$cache"
if [ ! -s "$base_tar" ]; then
  log "debootstrap bookworm (minbase + $packages) from $mirror"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; echo "image: debootstrap failed (log: $cache/debootstrap.log)" >&2; exit 1; }
  # What a container never reads: package caches and lists, documentation.
  rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/debootstrap
  tar --numeric-owner -C "$rootfs" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs"
  trap - EXIT
  find "$cache" -maxdepth 1 -name 'bookworm-rootfs-*.tar' ! -name "$(basename "$base_tar")" -delete
else
  log "base root filesystem from the cache: $base_tar"
fi

# 2. The base image, imported once per key; older bases go.
if ! podman image exists "$base_image"; then
  log "podman import $base_image"
  podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$base_tar" "$base_image" >/dev/null
fi
podman images --format '{{.Repository}}:{{.Tag}}' localhost/bpfence-base | grep -vxF "$base_image" |
  xargs -r podman rmi >/dev/null 2>&1 || true

# 3. The two binaries on top.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
strip --strip-debug -o "$context/bpfence-agent" "$agent"
strip --strip-debug -o "$context/bpfence" "$cli"
log "podman build $tag"
podman build --quiet --build-arg BASE="$base_image" -f "$root/image/Containerfile.local" -t "$tag" "$context" >/dev/null

# 4. The archive for clusters that pull from no registry (manifests/README.md).
if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  rm -f "$out"
  podman save --quiet --format oci-archive -o "$out" "$tag"
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "built $tag: $((size / 1000000)) MB unpacked${out:+, $out $(($(stat -c %s "$out") / 1000000)) MB}, in $(($(date +%s) - started)) s"
