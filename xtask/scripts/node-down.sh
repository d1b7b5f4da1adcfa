#!/usr/bin/env bash
# Stops the node node-up.sh started in DIR and restores the host: the kubelet and the scheduler
# first (so nothing restarts Pods), then every container of this containerd, containerd itself,
# the mounts under DIR, the Pods' cgroups, the network namespaces and log links that appeared,
# the iptables state and the sysctls as they were. Safe to run twice.
# Usage: node-down.sh DIR
set -uo pipefail
D=$(cd "$1" 2>/dev/null && pwd) || exit 0
N="$D/node"
[ -f "$N/started" ] || exit 0
log() { echo "node-down: $*" >&2; }
stop() { # name: SIGTERM, then SIGKILL after 10 s, the process recorded in DIR/pids
  local pid
  pid=$(awk -v n="$1" '$1 == n {print $2}' "$D/pids" 2>/dev/null | tail -1)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  awk -v n="$1" '$1 != n' "$D/pids" > "$D/pids.tmp" && mv "$D/pids.tmp" "$D/pids"
  log "stopped $1 ($pid)"
}
descendants() { # pid: its children, grandchildren, ... (deepest last)
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do echo "$c"; descendants "$c"; done
}
stop scheduler
stop kubelet

# Every shim of this containerd, and the containers under them, killed outright: the Pods are
# gone with the node.
C="$N/containerd"
for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $C/containerd.sock" || true); do
  kill -9 $(descendants "$shim") "$shim" 2>/dev/null
done
stop containerd

# Mounts under DIR (container root filesystems, Pod volumes, sandbox /dev/shm), deepest first.
awk -v d="$D/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done

# Network namespaces that appeared while the node ran (each Pod sandbox had one).
if [ -f "$N/netns.before" ]; then
  for ns in $(ls /var/run/netns 2>/dev/null | sort | comm -13 "$N/netns.before" -); do
    ip netns delete "$ns" 2>/dev/null || { umount "/var/run/netns/$ns" 2>/dev/null; rm -f "/var/run/netns/$ns"; }
  done
fi
if [ -f "$N/logs.before" ]; then
  for f in $(ls /var/log/containers 2>/dev/null | sort | comm -13 "$N/logs.before" -); do
    rm -f "/var/log/containers/$f"
  done
fi

# The kubelet's cgroups (kubepods, with the QoS classes and Pods under it), leaves first.
for ctl in /sys/fs/cgroup/*/; do
  [ -d "$ctl/kubepods" ] || continue
  find "$ctl/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# Directories that did not exist before the node started.
if [ -f "$N/absent.before" ]; then
  while read -r p; do
    [ -n "$p" ] && ! grep -q " $p/" /proc/self/mountinfo && rm -rf "$p"
  done < "$N/absent.before"
fi

# iptables as saved: every table there is now is restored (a table that was empty or absent
# then is flushed, with the chains the kubelet added deleted).
restore_tables() { # save-command restore-command saved-file
  local now
  now=$("$1" 2>/dev/null | sed -n 's/^\*//p')
  { cat "$3"; for t in $now; do grep -q "^\*$t\$" "$3" || printf '*%s\nCOMMIT\n' "$t"; done; } | "$2"
}
[ -f "$N/iptables.save" ] && restore_tables iptables-save iptables-restore "$N/iptables.save"
[ -f "$N/ip6tables.save" ] && restore_tables ip6tables-save ip6tables-restore "$N/ip6tables.save"
if [ -f "$N/sysctls" ]; then
  while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null || log "could not restore $kv"; done < "$N/sysctls"
fi
rm -f "$N/started"
log "node stopped, host restored"
