#!/usr/bin/env bash
# Restarts one process of a control plane started by cluster-up.sh (etcd, apiserver or kcm):
# SIGTERM (graceful), wait for it to exit, start the same command line again, wait until it
# answers. Usage: cluster-restart.sh DIR NAME
set -euo pipefail
D=$1; NAME=$2
cd "$D"
PID=$(awk -v n="$NAME" '$1 == n {print $2}' pids | tail -1)
[ -n "$PID" ] || { echo "cluster-restart: no $NAME in $D/pids" >&2; exit 1; }
kill "$PID" 2>/dev/null || true
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
  # etcd must stop gracefully; the apiserver may still be draining long watches: cut them.
  [ "$NAME" = etcd ] && { echo "cluster-restart: etcd did not stop within 30s" >&2; exit 1; }
  kill -9 "$PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
fi
CMD=$(cat "$NAME.cmd")
setsid bash -c "exec $CMD" >> "$D/$NAME.log" 2>&1 < /dev/null &
NEW=$!
awk -v n="$NAME" '$1 != n' pids > pids.tmp && mv pids.tmp pids
echo "$NAME $NEW" >> pids
. "$D/env"
A=(--cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key")
case "$NAME" in
  etcd) probe=(curl -sf "$ETCD_URL/health") ;;
  apiserver) probe=(curl -sf "${A[@]}" "$APISERVER_URL/readyz") ;;
  kcm) probe=(curl -skf "$KCM_URL/healthz") ;;
  *) echo "cluster-restart: unknown process $NAME" >&2; exit 1 ;;
esac
for _ in $(seq 1 600); do "${probe[@]}" > /dev/null 2>&1 && { echo "cluster-restart: $NAME restarted ($NEW)" >&2; exit 0; }; sleep 0.2; done
echo "cluster-restart: $NAME did not come back" >&2; exit 1
