#!/usr/bin/env bash
# Starts a real node for a control plane that cluster-up.sh started with a node address:
# containerd (with Debian's runc and CNI plugins), a kubelet and a kube-scheduler, all from
# BIN_DIR. Pods get addresses on the bridge appauth0; one DNAT rule stands in for kube-proxy's
# ClusterIP of kubernetes.default. Needs root.
# Usage: node-up.sh DIR BIN_DIR PAUSE_ARCHIVE PAUSE_IMAGE
#   PAUSE_ARCHIVE: an image archive (docker-archive or OCI) holding the sandbox image, named
#   PAUSE_IMAGE; nothing is ever pulled.
# What it changes on the host (sysctls, iptables, network namespaces, mounts, cgroups, the
# bridge) is recorded under DIR/node so that node-down.sh restores or removes exactly that.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(cd "$1" && pwd); BIN=$(cd "$2" && pwd); PAUSE_ARCHIVE=$3; PAUSE_IMAGE=$4
N="$D/node"
NODE_NAME=appauth-node
log() { echo "node-up: $*" >&2; }
fail() {
  log "$*"
  for f in containerd.log kubelet.log scheduler.log; do
    [ -f "$D/$f" ] && { echo "--- $f (tail)" >&2; tail -25 "$D/$f" >&2; }
  done
  "$HERE/node-down.sh" "$D" || true
  exit 1
}
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { log "a node needs root"; exit 1; }
"$HERE/node-packages.sh" check || { log "run xtask/scripts/node-packages.sh install"; exit 1; }
. "$D/env"
[ -f "$D/bridge" ] || ip link show appauth0 > /dev/null 2>&1 || fail "no bridge appauth0: start the control plane with a node address"
NODE_IP=$(ip -4 -o addr show appauth0 | awk '{print $4}' | head -1)
SUBNET=$(python3 -c "import ipaddress,sys;print(ipaddress.ip_interface(sys.argv[1]).network)" "$NODE_IP")
NODE_IP=${NODE_IP%/*}
mkdir -p "$N"/{cni/net.d,cni/ipam,containerd,kubelet,pod-logs}

# What node-down.sh restores: the sysctls the kubelet and the bridge touch, the whole iptables
# state, and the network namespaces and /var/log/containers entries that existed before.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
: > "$N/sysctls"
for s in "${SYSCTLS[@]}"; do
  v=$(sysctl -n "$s" 2>/dev/null) && echo "$s=$v" >> "$N/sysctls"
done
iptables-save > "$N/iptables.save"
ip6tables-save > "$N/ip6tables.save" 2>/dev/null || true
ls /var/run/netns 2>/dev/null | sort > "$N/netns.before" || true
ls /var/log/containers 2>/dev/null | sort > "$N/logs.before" || true
# Directories the kubelet, containerd and the CNI plugins create at fixed places: those that do
# not exist now are removed again.
for p in /var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/run/netns \
  /var/lib/cni /run/netns; do
  [ -e "$p" ] || echo "$p"
done > "$N/absent.before"
touch "$N/started"

sysctl -qw net.ipv4.ip_forward=1
# kubernetes.default's ClusterIP, from Pods (PREROUTING) and from the host (OUTPUT).
for chain in PREROUTING OUTPUT; do
  iptables -t nat -A "$chain" -d "$CLUSTER_IP/32" -p tcp --dport 443 \
    -m comment --comment appauth-node -j DNAT --to-destination "$NODE_IP:$APISERVER_PORT"
done

cat > "$N/cni/net.d/10-appauth.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "appauth",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "appauth0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$SUBNET", "gateway": "$NODE_IP", "rangeStart": "${NODE_IP%.*}.16"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$N/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI

C="$N/containerd"
SOCK="$C/containerd.sock"
cat > "$C/config.toml" <<TOML
version = 3
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[debug]
  address = "$C/debug.sock"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # Root here has no CAP_SYS_RESOURCE: no process may get a negative OOM score.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$N/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$C/runc"
        SystemdCgroup = false
TOML
# The shim is found on PATH, next to containerd.
PATH="$BIN:$PATH" start containerd "$BIN/containerd" --config "$C/config.toml"
wait_for 60 containerd "$BIN/ctr" --address "$SOCK" version
"$BIN/ctr" --address "$SOCK" -n k8s.io images import --all-platforms "$PAUSE_ARCHIVE" > /dev/null \
  || fail "importing the sandbox image from $PAUSE_ARCHIVE"

K="$N/kubelet"
HEALTHZ=$(free_port); KUBELET_PORT=$(free_port); SCHED_PORT=$(free_port)
cat > "$K/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroups are v1/hybrid here, and the VM's own manager owns the memory cgroup.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://$SOCK
failSwapOn: false
# Root cannot lower OOM scores on this host.
oomScoreAdj: 0
# A test node: the apiserver's admin client talks to it, nothing else can reach the bridge.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $D/ca.crt}
authorization: {mode: AlwaysAllow}
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $HEALTHZ
podLogsDir: $N/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 10s
YAML
start kubelet "$BIN/kubelet" --config="$K/config.yaml" --kubeconfig="$D/kubeconfig" \
  --root-dir="$K/root" --cert-dir="$K/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
wait_for 60 "kubelet /healthz" curl -sf "http://127.0.0.1:$HEALTHZ/healthz"

start scheduler "$BIN/kube-scheduler" --kubeconfig="$D/kubeconfig" \
  --authentication-kubeconfig="$D/kubeconfig" --authorization-kubeconfig="$D/kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHED_PORT"
wait_for 60 "kube-scheduler /healthz" curl -skf "https://127.0.0.1:$SCHED_PORT/healthz"

KC=("$BIN/kubectl" --kubeconfig "$D/kubeconfig")
wait_for 120 "node $NODE_NAME Ready" "${KC[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
cat >> "$D/env" <<ENV
NODE_NAME=$NODE_NAME
NODE_IP=$NODE_IP
CONTAINERD_ADDRESS=$SOCK
ENV
log "node $NODE_NAME Ready at $NODE_IP (containerd $SOCK)"
