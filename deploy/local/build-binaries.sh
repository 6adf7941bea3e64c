#!/usr/bin/env bash
# Builds the real Kubernetes components, etcd, KWOK and helm from their Go modules into a
# version-keyed cache outside the repository. Already-built binaries are reused.
#
# Why wrapper modules: k8s.io/kubernetes and etcd's server module carry `replace` directives that
# point into their own source trees, so `go install pkg@version` refuses them. A tiny module that
# requires them and replaces each staging module with its published twin builds the same code.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE="${KUBEFOUNDRY_CACHE:-$HOME/.cache/kubefoundry}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
mkdir -p "$BIN" "$WORK"

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

k8s_minor_tag() { # v1.36.3 -> v0.36.3
  echo "v0.${K8S_VERSION#v1.}"
}

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0
  for b in "${want[@]}"; do [[ -x "$BIN/$b-$K8S_VERSION" ]] || missing=1; done
  [[ $missing == 1 ]] || return 0
  log "building Kubernetes $K8S_VERSION (${want[*]}) ..."
  local dir="$WORK/kubernetes-$K8S_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init kubefoundry.local/k8s-build >/dev/null 2>&1
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  local staging
  staging="$(k8s_minor_tag)"
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.Y.Z".
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } >>go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >/dev/null
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  for b in "${want[@]}"; do
    [[ -x "$BIN/$b-$K8S_VERSION" ]] && continue
    log "  go build $b"
    go build -trimpath -ldflags "$ldflags" -o "$BIN/$b-$K8S_VERSION.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$BIN/$b-$K8S_VERSION.tmp" "$BIN/$b-$K8S_VERSION"
  done
}

build_etcd() {
  [[ -x "$BIN/etcd-$ETCD_VERSION" ]] && return 0
  log "building etcd $ETCD_VERSION ..."
  local dir="$WORK/etcd-$ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init kubefoundry.local/etcd-build >/dev/null 2>&1
  cat >>go.mod <<MOD
require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
MOD
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd-$ETCD_VERSION.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd-$ETCD_VERSION.tmp" "$BIN/etcd-$ETCD_VERSION"
}

go_install() { # name module-path version
  local name=$1 pkg=$2 version=$3
  [[ -x "$BIN/$name-$version" ]] && return 0
  log "building $name $version ..."
  local gobin="$WORK/gobin-$name-$version"
  mkdir -p "$gobin"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w ${4:-}" "$pkg@$version"
  mv "$gobin/$name" "$BIN/$name-$version"
}

start=$(date +%s)
built=0
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kubernetes etcd kwok helm)
for t in "${targets[@]}"; do
  before=$(ls "$BIN" | wc -l)
  case "$t" in
    kubernetes) build_kubernetes ;;
    etcd) build_etcd ;;
    kwok)
      go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
      go_install kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
    helm) go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
    *) echo "unknown target: $t" >&2; exit 2 ;;
  esac
  [[ $(ls "$BIN" | wc -l) == "$before" ]] || built=1
done
# Version-free names for people: `export PATH=$CACHE/path:$PATH` gives kubectl and helm.
mkdir -p "$CACHE/path"
for pair in "kubectl:kubectl-$K8S_VERSION" "helm:helm-$HELM_VERSION" "kwokctl:kwokctl-$KWOK_VERSION"; do
  [[ -x "$BIN/${pair#*:}" ]] && ln -sf "$BIN/${pair#*:}" "$CACHE/path/${pair%%:*}"
done
if [[ $built == 1 ]]; then
  log "build finished in $(( $(date +%s) - start ))s (cache: $BIN)"
fi
