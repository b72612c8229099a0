#!/usr/bin/env bash
# Installs the Debian packages of the list that are not installed yet (one
# apt-get run), saying which; does nothing when all are there.
# Usage: scripts/install-missing.sh WHO PACKAGE...   (WHO prefixes the message)
set -euo pipefail
who=$1
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
echo "$who: installing ${missing[*]}"
[ "$(id -u)" = 0 ] || { echo "$who: run as root to install packages" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
