#!/usr/bin/env bash
# `make dev`: the local simulated GPU cluster, KubeFoundry's CRDs, the Dynamo stand-in, the operator
# and the REST API on http://localhost:3001. Ctrl-C stops the processes; the cluster stays for the
# next run (`make cluster-down` removes it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
PY="$REPO/.venv/bin/python"
export PYTHONSAFEPATH=1  # keep ./operator from shadowing the stdlib module under `python -m`
PORT="${KUBEFOUNDRY_API_PORT:-3001}"
LIVENESS_PORT="${KUBEFOUNDRY_OPERATOR_LIVENESS_PORT:-8081}"  # another checkout's `make dev` may hold 8081
CACHE="${KUBEFOUNDRY_CACHE:-$HOME/.cache/kubefoundry}"
LOGS="$CACHE/logs"
mkdir -p "$LOGS"

bash "$HERE/cluster.sh" up
export KUBECONFIG
KUBECONFIG="$(bash "$HERE/cluster.sh" kubeconfig)"
KUBECTL="$(bash "$HERE/cluster.sh" kubectl-path)"

"$KUBECTL" apply --server-side --force-conflicts --field-manager kubefoundry-dev -f "$REPO/crds" >/dev/null
"$KUBECTL" wait --for=condition=Established crd --all --timeout=60s >/dev/null

pids=()
stopping=""
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[dev] stopping KubeFoundry processes (the cluster keeps running; 'make cluster-down' removes it)"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stopping=1' INT TERM
trap cleanup EXIT

start() { # name command...
  local name=$1; shift
  # A session of its own: Ctrl-C reaches this script, which then stops the processes in order.
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  echo "[dev] started $name (pid $!, log $LOGS/$name.log)"
}

# NVIDIA's charts cannot be fetched here: the provider is installed from a local stand-in chart that
# carries the real Dynamo CRDs, through a ProviderInstall, exactly as a user would install the real one.
CHARTS="$("$PY" -m kubefoundry.simulator.localchart assemble)"
export KUBEFOUNDRY_HELM="$CACHE/bin/helm-$HELM_VERSION"
export KUBEFOUNDRY_LOCAL_CHART_ROOTS="$CHARTS"
export KUBEFOUNDRY_DEFAULT_CHART_SOURCE="$CHARTS"

echo "[dev] the Dynamo STAND-IN plays NVIDIA Dynamo's operator here (the real one needs GPUs and images)"
start dynamo-standin "$PY" -m kubefoundry.simulator.dynamo
start operator "$PY" -m kubefoundry.operator --liveness "http://127.0.0.1:$LIVENESS_PORT/healthz"
start api "$PY" -m kubefoundry.api --port "$PORT"
"$PY" -m kubefoundry.simulator.localchart manifest --dest "$CHARTS" | "$KUBECTL" apply -f - >/dev/null
echo "[dev] applied ProviderInstall 'dynamo' (local chart at $CHARTS); kubectl get providerinstall"

cat <<MSG

KubeFoundry is running.
  web UI:      http://localhost:$PORT/
  REST API:    http://localhost:$PORT/api   (try: curl localhost:$PORT/api/cluster/status)
  kubectl:     export KUBECONFIG=$KUBECONFIG PATH=$(dirname "$(dirname "$KUBECTL")")/path:\$PATH
               then: kubectl get nodes   (kubectl $K8S_VERSION and helm $HELM_VERSION, built for this cluster)
  deploy:      kubectl apply -f deploy/examples/qwen.yaml, then kubectl get kfd -w
  logs:        $LOGS/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
if [[ -z "$stopping" ]]; then
  echo "[dev] a process exited unexpectedly; see $LOGS" >&2
  exit 1
fi
