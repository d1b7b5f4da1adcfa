#!/usr/bin/env bash
# Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports with a
# throwaway CA, installs the CRDs before the controller-manager starts (its garbage collector
# discovers resources at start and then only every 30 s), and writes DIR/kubeconfig.
# Usage: cluster-up.sh DIR BIN_DIR CRD_DIR [NODE_ADDRESS]
# With NODE_ADDRESS (an address/prefix such as 10.213.0.1/24) the control plane is made for Pods
# on a local node (node-up.sh): a bridge appauth0 holds that address, the apiserver listens and
# advertises there with the ClusterIP of kubernetes.default in its certificate, the
# ServiceAccount admission plugin is on, and the controller-manager runs what Deployments,
# PodDisruptionBudgets and ServiceAccounts need.
# Every process started is recorded in DIR/pids; cluster-down.sh stops exactly those.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
D=$(cd "$1" && pwd); BIN=$(cd "$2" && pwd); CRDS=$(cd "$3" && pwd); NODE_CIDR=${4:-}
cd "$D"
: > pids
log() { echo "cluster-up: $*" >&2; }
fail() {
  log "$*"
  for f in etcd.log apiserver.log kcm.log; do [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -20 "$f" >&2; }; done
  "$HERE/cluster-down.sh" "$D"
  exit 1
}
. "$HERE/lib.sh"

# Certificates: a CA, the serving cert (IP and DNS SANs, which rustls wants) and an admin client.
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=appauth-test-ca" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
# The service CIDR's first address is the ClusterIP of kubernetes.default, which Pods dial.
SERVICE_CIDR=10.0.0.0/24 CLUSTER_IP=10.0.0.1
HOST=127.0.0.1
SANS="DNS:localhost,IP:127.0.0.1,IP:$CLUSTER_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
if [ -n "$NODE_CIDR" ]; then
  HOST=${NODE_CIDR%/*}
  SANS="$SANS,IP:$HOST"
  # One node per host: its bridge, iptables rules and sysctls are the host's.
  if ip link show appauth0 > /dev/null 2>&1; then
    fail "the bridge appauth0 exists: another local node runs (cargo xtask down --dir <its directory>)"
  fi
  ip link add appauth0 type bridge || fail "creating the bridge appauth0 (needs root)"
  echo appauth0 > "$D/bridge"
  # The bridge names its control plane: a later start finds what to stop if this run is killed.
  ip link set appauth0 alias "$D" || fail "naming appauth0"
  ip addr replace "$NODE_CIDR" dev appauth0 && ip link set appauth0 up || fail "addressing appauth0"
fi
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout apiserver.key -out apiserver.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$SANS" > srv.ext
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile srv.ext -out apiserver.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=admin" -keyout admin.key -out admin.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' > cli.ext
openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile cli.ext -out admin.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

EP=$(free_port); PP=$(free_port); AP=$(free_port); KP=$(free_port)
start etcd "$BIN/etcd" --data-dir "$D/etcd" --name appauth-test \
  --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "appauth-test=http://127.0.0.1:$PP" \
  --unsafe-no-fsync --log-level warn
wait_for 30 etcd curl -sf "http://127.0.0.1:$EP/health"

# Without a node no Pod runs, and the ServiceAccount admission plugin would only make every Pod
# wait for a ServiceAccount controller.
# With a node, the apiserver reaches kubelets (logs, exec) with the admin client certificate.
if [ -n "$NODE_CIDR" ]; then
  ADMISSION=(--enable-admission-plugins=ServiceAccount
    --kubelet-client-certificate="$D/admin.crt" --kubelet-client-key="$D/admin.key")
else ADMISSION=(--disable-admission-plugins=ServiceAccount); fi
# The issuer is this apiserver, whose discovery document and keys (/openid/v1/jwks) check the
# ServiceAccount tokens it signs.
start apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$EP" \
  --bind-address="$HOST" --advertise-address="$HOST" --secure-port="$AP" \
  --cert-dir="$D" --tls-cert-file="$D/apiserver.crt" --tls-private-key-file="$D/apiserver.key" \
  --client-ca-file="$D/ca.crt" \
  --service-account-issuer="https://$HOST:$AP" \
  --service-account-key-file="$D/sa.pub" --service-account-signing-key-file="$D/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
  --authorization-mode=RBAC "${ADMISSION[@]}" \
  --endpoint-reconciler-type=none
A=(--cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key")
wait_for 120 "kube-apiserver /readyz" curl -sf "${A[@]}" "https://$HOST:$AP/readyz"
wait_for 30 "namespace default" curl -sf "${A[@]}" "https://$HOST:$AP/api/v1/namespaces/default"

cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: appauth-test
  cluster:
    server: https://$HOST:$AP
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 admin.crt)
    client-key-data: $(base64 -w0 admin.key)
contexts:
- name: appauth-test
  context: {cluster: appauth-test, user: admin}
current-context: appauth-test
KC

K=("$BIN/kubectl" --kubeconfig "$D/kubeconfig")
"${K[@]}" apply --server-side -f "$CRDS" > /dev/null || fail "installing CRDs from $CRDS failed"
"${K[@]}" wait --for condition=Established --timeout=60s -f "$CRDS" > /dev/null || fail "CRDs not Established"

CONTROLLERS=garbage-collector-controller,namespace-controller
KCM_NODE=()
if [ -n "$NODE_CIDR" ]; then
  # What Pods of a Deployment with a PodDisruptionBudget need: a ServiceAccount in every
  # namespace, the kube-root-ca.crt ConfigMap their token volume projects, ReplicaSets, the
  # disruption budget's status, and the cleanup of Pods whose node is gone.
  CONTROLLERS=$CONTROLLERS,serviceaccount-controller,root-ca-certificate-publisher-controller
  CONTROLLERS=$CONTROLLERS,deployment-controller,replicaset-controller,disruption-controller
  CONTROLLERS=$CONTROLLERS,pod-garbage-collector-controller,endpointslice-controller
  # Lifts the not-ready taint a kubelet registers its node with, once the node is Ready.
  CONTROLLERS=$CONTROLLERS,node-lifecycle-controller
  KCM_NODE=(--root-ca-file="$D/ca.crt" --use-service-account-credentials=false)
fi
start kcm "$BIN/kube-controller-manager" --kubeconfig="$D/kubeconfig" \
  --authentication-kubeconfig="$D/kubeconfig" --authorization-kubeconfig="$D/kubeconfig" \
  --controllers="$CONTROLLERS" "${KCM_NODE[@]}" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$KP" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics
wait_for 60 "kube-controller-manager /healthz" curl -skf "https://127.0.0.1:$KP/healthz"

cat > env <<ENV
ETCD_URL=http://127.0.0.1:$EP
APISERVER_URL=https://$HOST:$AP
APISERVER_PORT=$AP
CLUSTER_IP=$CLUSTER_IP
KCM_URL=https://127.0.0.1:$KP
KUBECONFIG=$D/kubeconfig
ENV
log "control plane up: apiserver https://$HOST:$AP, kubeconfig $D/kubeconfig"
