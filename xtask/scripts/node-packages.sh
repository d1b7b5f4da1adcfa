#!/usr/bin/env bash
# Installs the Debian packages named in xtask/node/packages.txt at exactly the versions given
# there, and checks them. Usage: node-packages.sh [check|install]
#   check:   prints each package that is missing or at another version; exit 1 if any.
#   install: apt-get installs those (apt-get update first), then checks again. Needs root.
# Nothing is installed when every package is already at its version.
set -euo pipefail
LIST="$(cd "$(dirname "$0")/.." && pwd)/node/packages.txt"
mode=${1:-check}
wrong=()
while read -r pkg version; do
  case "$pkg" in ''|'#'*) continue ;; esac
  have=$(dpkg-query -W -f '${Status} ${Version}' "$pkg" 2>/dev/null || true)
  if [ "$have" != "install ok installed $version" ]; then
    wrong+=("$pkg=$version")
    echo "node-packages: $pkg: want $version, have ${have:-nothing}" >&2
  fi
done < "$LIST"
[ ${#wrong[@]} -eq 0 ] && exit 0
[ "$mode" = install ] || exit 1
[ "$(id -u)" = 0 ] || { echo "node-packages: installing ${wrong[*]} needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${wrong[@]}" > /dev/null
exec "$0" check
