#!/usr/bin/env bash
# The local simulated GPU cluster: real etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler, with KWOK playing the kubelets of the nodes in topology.yaml.
#
#   cluster.sh up            build what is missing, start (or reuse) the cluster, apply the nodes
#   cluster.sh down          stop and delete the cluster
#   cluster.sh stop          stop the processes, keep the data (next `up` resumes it)
#   cluster.sh kubeconfig    print the kubeconfig path
#   cluster.sh kubectl-path  print the path of the matching kubectl
#   cluster.sh nodes         (re)apply topology.yaml
#   cluster.sh provider-crds [provider ...]  install provider CRDs (default: all) by server-side apply
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE="${KUBEFOUNDRY_CACHE:-$HOME/.cache/kubefoundry}"
BIN="$CACHE/bin"
NAME="${KUBEFOUNDRY_CLUSTER_NAME:-kubefoundry}"
export KWOK_WORKDIR="$CACHE/kwok"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig.yaml"
KUBECTL="$BIN/kubectl-$K8S_VERSION"
KWOKCTL="$BIN/kwokctl-$KWOK_VERSION"
# kwokctl would otherwise download a kubectl; hand it ours.
export KWOK_KUBECTL_BINARY="$KUBECTL"
export KWOK_KUBE_VERSION="$K8S_VERSION"
export KWOK_ETCD_VERSION="${ETCD_VERSION#v}"
PROVIDER_CRDS="${KUBEFOUNDRY_PROVIDER_CRDS:-$REPO/../shared/crds}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
KWOK_CONFIG="$HERE/kwokctl.yaml"
# A cluster made with other versions or component settings is recreated, not reused.
CONFIG_STAMP="$(cat "$HERE/versions.env" "$KWOK_CONFIG" | sha1sum | cut -c1-12)"

log() { printf '[cluster] %s\n' "$*" >&2; }

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

healthy() {
  [[ -f "$KUBECONFIG_FILE" ]] && k get --raw /readyz >/dev/null 2>&1
}

wait_healthy() {
  local deadline=$(( $(date +%s) + ${1:-60} ))
  until healthy; do
    (( $(date +%s) < deadline )) || { log "API server did not become ready"; return 1; }
    sleep 0.5
  done
}

apply_nodes() {
  "$PYTHON" "$HERE/nodes.py" "${KUBEFOUNDRY_TOPOLOGY:-$HERE/topology.yaml}" \
    | k apply --server-side --force-conflicts --field-manager kubefoundry-topology -f - >/dev/null
  # KWOK's node stage marks nodes Ready; the scheduler ignores them until then.
  k wait --for=condition=Ready node --all --timeout=60s >/dev/null
}

# A node's stored status can say Ready while nobody plays its kubelet: KWOK acts for a node only while it
# holds the node's Lease, and a restarted controller waits for its predecessor's leases to expire
# (kwokctl.yaml). Wait until every node's Lease was renewed at or after $1 (epoch seconds).
wait_nodes_managed() {
  local since=$1 deadline=$(( $(date +%s) + 90 ))
  local -A renewed
  while :; do
    renewed=()
    local name time nodes leases pending=()
    # A failed listing is "not yet", never "all done".
    if nodes=$(k get nodes -o jsonpath='{.items[*].metadata.name}' 2>/dev/null) && [[ -n $nodes ]] &&
      leases=$(k get leases -n kube-node-lease \
        -o jsonpath='{range .items[*]}{.metadata.name} {.spec.renewTime}{"\n"}{end}' 2>/dev/null); then
      while read -r name time; do
        if [[ -n $name && -n $time ]]; then renewed[$name]=$(date -d "$time" +%s); fi
      done <<<"$leases"
      for name in $nodes; do
        (( ${renewed[$name]:-0} >= since )) || pending+=("$name")
      done
      [[ ${#pending[@]} -eq 0 ]] && return 0
    else
      pending=("(nodes or leases not listed)")
    fi
    if (( $(date +%s) >= deadline )); then
      log "KWOK has not taken over nodes: ${pending[*]} (see $CLUSTER_DIR/logs/kwok-controller.log)"
      return 1
    fi
    sleep 0.5
  done
}

install_provider_crds() {
  local providers=("$@")
  [[ ${#providers[@]} -gt 0 ]] || providers=(dynamo kuberay kaito)
  if [[ ! -d "$PROVIDER_CRDS" ]]; then
    log "provider CRDs not found at $PROVIDER_CRDS (set KUBEFOUNDRY_PROVIDER_CRDS)"
    return 1
  fi
  for p in "${providers[@]}"; do
    # Server-side apply: some CRDs are near 1 MB, over client-side apply's annotation limit.
    k apply --server-side --force-conflicts --field-manager kubefoundry-dev -f "$PROVIDER_CRDS/$p" >/dev/null
    log "installed $p CRDs from $PROVIDER_CRDS/$p"
  done
  k wait --for=condition=Established crd --all --timeout=60s >/dev/null
}

up() {
  bash "$HERE/build-binaries.sh" kubernetes etcd kwok
  local start managed_since resumed=0
  start=$(date +%s%N)
  managed_since=$(( start / 1000000000 - 1 ))
  if [[ -d "$CLUSTER_DIR" && "$(cat "$CLUSTER_DIR/.kubefoundry-stamp" 2>/dev/null)" != "$CONFIG_STAMP" ]]; then
    log "cluster '$NAME' was made with other settings; recreating it"
    down
  fi
  if healthy; then
    log "cluster '$NAME' is already running"
    managed_since=$(( managed_since - 10 ))  # a live controller renews every 5 s; see kwokctl.yaml
  elif [[ -d "$CLUSTER_DIR" ]] && grep -qx "$NAME" <<<"$("$KWOKCTL" get clusters 2>/dev/null || true)"; then
    log "starting existing cluster '$NAME'"
    "$KWOKCTL" start cluster --name "$NAME" >&2 || { log "restart failed, recreating"; down; create; }
    resumed=1
  else
    create
  fi
  wait_healthy 90
  if (( resumed )); then
    # The leases belong to the stopped controller; without them the new one takes the nodes at its
    # next attempt (5 s) instead of after they expire.
    k delete leases -n kube-node-lease --all >/dev/null
  fi
  apply_nodes
  wait_nodes_managed "$managed_since"
  # Pods are refused until the controller-manager has made the namespace's ServiceAccount.
  local deadline=$(( $(date +%s) + 60 ))
  until k get serviceaccount default -n default >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || { log "no default ServiceAccount after 60s"; return 1; }
    sleep 0.5
  done
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  log "cluster '$NAME' ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s; kubeconfig: $KUBECONFIG_FILE"
}

create() {
  log "creating cluster '$NAME' (Kubernetes $K8S_VERSION, KWOK $KWOK_VERSION)"
  "$KWOKCTL" create cluster \
    --name "$NAME" \
    --runtime binary \
    --kube-apiserver-binary "$BIN/kube-apiserver-$K8S_VERSION" \
    --kube-controller-manager-binary "$BIN/kube-controller-manager-$K8S_VERSION" \
    --kube-scheduler-binary "$BIN/kube-scheduler-$K8S_VERSION" \
    --kwok-controller-binary "$BIN/kwok-$KWOK_VERSION" \
    --etcd-binary "$BIN/etcd-$ETCD_VERSION" \
    --kube-authorization \
    --kube-admission \
    --kubeconfig "$KWOK_WORKDIR/kubeconfig-merged.yaml" \
    --config "$KWOK_CONFIG" \
    --wait 120s >&2
  echo "$CONFIG_STAMP" >"$CLUSTER_DIR/.kubefoundry-stamp"
}

down() {
  if [[ -d "$CLUSTER_DIR" ]]; then
    "$KWOKCTL" delete cluster --name "$NAME" >&2 || true
    rm -rf "$CLUSTER_DIR"
  fi
}

cmd="${1:-up}"
shift || true
case "$cmd" in
  up) up ;;
  down) down ;;
  stop) "$KWOKCTL" stop cluster --name "$NAME" >&2 ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  kubectl-path) echo "$KUBECTL" ;;
  nodes) apply_nodes ;;
  provider-crds) install_provider_crds "$@" ;;
  healthy) healthy ;;
  *) echo "usage: $0 up|down|stop|kubeconfig|kubectl-path|nodes|provider-crds|healthy" >&2; exit 2 ;;
esac
