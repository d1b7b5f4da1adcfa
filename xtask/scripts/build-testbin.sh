#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) and
# helm from the Go module proxy into a cache outside the repo. Idempotent: a finished build is
# marked by a stamp file and reused. Prints the bin directory on its last line.
set -euo pipefail

K8S=${APPAUTH_K8S_VERSION:-v1.36.4}
ETCD=${APPAUTH_ETCD_VERSION:-v3.6.10}
HELM=${APPAUTH_HELM_VERSION:-v3.21.4}
CACHE_ROOT=${APPAUTH_CACHE:-$HOME/.cache/appauth-operator}
CACHE="$CACHE_ROOT/testbin/k8s-$K8S-etcd-$ETCD-helm-$HELM"
BIN="$CACHE/bin"
STG="v0.${K8S#v1.}"
MINOR=$(echo "$K8S" | cut -d. -f2)

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN"
log() { echo "build-testbin: $*" >&2; }

if [ -f "$CACHE/.done" ] && [ -x "$BIN/kstatus" ]; then echo "$BIN"; exit 0; fi

# Kubernetes: a wrapper module whose replace lines map every staging repo to its published tag,
# because k8s.io/kubernetes itself cannot be `go install`ed (its go.mod replaces to ./staging).
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ] || [ ! -x "$BIN/kubectl" ]; then
  log "building kubernetes $K8S (staging $STG); cold this takes 15-30 minutes"
  W="$CACHE/src/k8s"; rm -rf "$W"; mkdir -p "$W"; cd "$W"
  printf 'module local/k8s-testbin\n\ngo 1.26.0\n' > go.mod
  KMOD=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": *"\([^"]*\)".*/\1/p')
  [ -n "$KMOD" ] || { log "could not download k8s.io/kubernetes@$K8S"; exit 1; }
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$KMOD"); do
    go mod edit -replace="$m=$m@$STG"
  done
  G=$(sed -n 's/^godebug default=\(go[0-9.]*\)/\1/p' "$KMOD" || true)
  if [ -n "$G" ]; then go mod edit -godebug="default=$G"; fi
  go get "k8s.io/kubernetes@$K8S"
  go get -tool k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
  LDF="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDF="$LDF -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=2000-01-01T00:00:00Z"
  done
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$LDF" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
fi

if [ ! -x "$BIN/etcd" ]; then
  log "building etcd $ETCD"
  W="$CACHE/src/etcd"; rm -rf "$W"; mkdir -p "$W"; cd "$W"
  printf 'module local/etcd-testbin\n\ngo 1.26.0\n' > go.mod
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
fi

if [ ! -x "$BIN/helm" ]; then
  log "building helm $HELM"
  W="$CACHE/src/helm"; rm -rf "$W"; mkdir -p "$W"; cd "$W"
  printf 'module local/helm-testbin\n\ngo 1.26.0\n' > go.mod
  HMAJ=$(echo "$HELM" | cut -d. -f1)
  go get -tool "helm.sh/helm/$HMAJ/cmd/helm@$HELM"
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/$HMAJ/internal/version.version=$HELM" \
    -o "$BIN/helm" "helm.sh/helm/$HMAJ/cmd/helm"
fi

"$BIN/kube-apiserver" --version >&2
"$BIN/etcd" --version | head -1 >&2
# ---------------------------------------------------------------------------------------------
# kstatus (tests/kstatus.rs): tools/kstatus, a small CLI around sigs.k8s.io/cli-utils' kstatus,
# built from the Go module proxy (versions pinned by tools/kstatus/go.mod and go.sum).
if [ ! -x "$BIN/kstatus" ]; then
  KSTATUS_SRC=$(cd "$(dirname "$0")/../../tools/kstatus" 2>/dev/null && pwd || true)
  if [ -z "$KSTATUS_SRC" ] || [ ! -f "$KSTATUS_SRC/go.mod" ]; then
    log "cannot find tools/kstatus next to $0 (run this script by its absolute path)"; exit 1
  fi
  log "building kstatus from $KSTATUS_SRC"
  (cd "$KSTATUS_SRC" && go build -trimpath -ldflags "-s -w" -o "$BIN/kstatus" .)
fi
# ---------------------------------------------------------------------------------------------

touch "$CACHE/.done"
echo "$BIN"
