#!/usr/bin/env bash
# Stops exactly the processes cluster-up.sh recorded in DIR/pids, newest first.
# A node started on this control plane (node-up.sh) goes first, and the bridge made for it last.
set -uo pipefail
D=$1
"$(dirname "$0")/node-down.sh" "$D"
remove_bridge() {
  if [ -f "$D/bridge" ]; then ip link delete "$(cat "$D/bridge")" 2>/dev/null; rm -f "$D/bridge"; fi
}
trap remove_bridge EXIT
[ -f "$D/pids" ] || { echo "cluster-down: no $D/pids; nothing to stop" >&2; exit 0; }
tac "$D/pids" | while read -r name pid; do
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "cluster-down: stopped $name ($pid)" >&2
  fi
done
rm -f "$D/pids"
