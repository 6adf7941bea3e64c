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
  [[ -f "$KUBECONFIG_FILE" ]] && k get --raw /readyz --request-timeout=2s >/dev/null 2>&1
}

components() { "$PYTHON" "$HERE/components.py" "$@"; }

# The components' own words: each one's last error line.
report_errors() {
  local line
  while IFS= read -r line; do [[ -n $line ]] && log "  $line"; done < <(components errors "$CLUSTER_DIR" "$@")
}

# Waits for the API server. $2: the pid of a `kwokctl start` under way (it waits up to two minutes
# itself); a component that exits, or kwokctl failing, ends the wait at once with their own words.
wait_healthy() {
  local deadline=$(( $(date +%s) + ${1:-60} )) starter=${2:-} dead
  until healthy; do
    dead=$(components exited "$CLUSTER_DIR")
    if [[ -n $dead ]]; then
      log "cluster '$NAME' cannot start: ${dead// /, } exited"
      # shellcheck disable=SC2086  # one name per word
      report_errors $dead
      give_up "$starter"
      return 1
    fi
    if [[ -n $starter ]] && ! kill -0 "$starter" 2>/dev/null; then
      if ! wait "$starter"; then
        log "kwokctl could not start cluster '$NAME'"
        report_errors
        give_up ""
        return 1
      fi
      starter=""
    fi
    if (( $(date +%s) >= deadline )); then
      log "API server of cluster '$NAME' did not become ready"
      report_errors etcd kube-apiserver
      give_up "$starter"
      return 1
    fi
    sleep 0.5
  done
  if [[ -n $starter ]]; then wait "$starter" || true; fi  # it returns once it sees the API server too
}

# A cluster that cannot start is stopped rather than left retrying (its data stays for a later `up`).
give_up() {
  if [[ -n ${1:-} ]]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
  "$KWOKCTL" stop cluster --name "$NAME" >/dev/null 2>&1 || true
  log "stopped cluster '$NAME'; logs: $CLUSTER_DIR/logs/ ('bash deploy/local/cluster.sh down' deletes it and its data)"
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

# Starts the components of an existing cluster that are not running (all of them after `stop`), after
# moving any of its ports that another process took meanwhile (another cluster created while this one was
# stopped gets the same free ports from kwokctl).
start_stopped() {
  local missing=$1 moved line
  if [[ -n "$(components pids "$CLUSTER_DIR")" ]]; then
    log "cluster '$NAME': ${missing// /, } not running; restarting them. Why they stopped:"
    # shellcheck disable=SC2086  # one name per word
    report_errors $missing  # before kwokctl starts their logs afresh
  else
    log "starting existing cluster '$NAME'"
  fi
  # shellcheck disable=SC2086  # one name per word
  moved=$(components free-ports "$CLUSTER_DIR" "$KWOK_WORKDIR/clusters" $missing)
  if [[ -n $moved ]]; then
    # The running components know the old ports: restart them all.
    "$KWOKCTL" stop cluster --name "$NAME" >&2
    restarted="all"
    while IFS= read -r line; do log "$line"; done <<<"$moved"
    "$KUBECTL" config set-cluster "kwok-$NAME" --kubeconfig "$KWOK_WORKDIR/kubeconfig-merged.yaml" \
      --server "$(k config view -o jsonpath='{.clusters[0].cluster.server}')" >/dev/null
  fi
  components forget-stopped "$CLUSTER_DIR"
  "$KWOKCTL" start cluster --name "$NAME" >&2 &
  wait_healthy 90 $!
}

# Whether `up` (re)started component $1 (`restarted`: names, or "all").
was_restarted() { [[ $restarted == all || " $restarted " == *" $1 "* ]]; }

up() {
  bash "$HERE/build-binaries.sh" kubernetes etcd kwok
  local start managed_since missing restarted=""
  start=$(date +%s%N)
  managed_since=$(( start / 1000000000 - 1 ))
  if [[ -d "$CLUSTER_DIR" && "$(cat "$CLUSTER_DIR/.kubefoundry-stamp" 2>/dev/null)" != "$CONFIG_STAMP" ]]; then
    log "cluster '$NAME' was made with other settings; recreating it"
    down
  fi
  if [[ -d "$CLUSTER_DIR" ]] && grep -qx "$NAME" <<<"$("$KWOKCTL" get clusters 2>/dev/null || true)"; then
    missing=$(components stopped "$CLUSTER_DIR")
    if [[ -n $missing ]]; then
      restarted=$missing
      start_stopped "$missing"
    elif healthy; then
      log "cluster '$NAME' is already running"
    else
      log "cluster '$NAME' is running but its API server is not ready; waiting"
      wait_healthy 90
    fi
  else
    create
    wait_healthy 90
  fi
  # The leader leases of restarted controllers belong to their dead predecessors: without them the new
  # ones take over at their next attempt (2 s) instead of after the leases expire (15 s).
  local component
  for component in kube-controller-manager kube-scheduler; do
    if was_restarted "$component"; then k delete lease -n kube-system "$component" --ignore-not-found >/dev/null; fi
  done
  if was_restarted kwok-controller; then
    # The node leases belong to the stopped controller; without them the new one takes the nodes at its
    # next attempt (5 s) instead of after they expire.
    k delete leases -n kube-node-lease --all >/dev/null
  else
    managed_since=$(( managed_since - 10 ))  # a live controller renews every 5 s; see kwokctl.yaml
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
    --wait 120s >&2 || { log "kwokctl could not create cluster '$NAME'"; [[ -d $CLUSTER_DIR ]] && report_errors; return 1; }
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
