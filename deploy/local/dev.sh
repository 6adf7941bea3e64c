#!/usr/bin/env bash
# `make dev`: the local simulated GPU cluster, KubeFoundry's CRDs, the Dynamo stand-in, the operator
# and the REST API on http://localhost:3001. Ctrl-C stops the processes; the cluster stays for the
# next run (`make cluster-down` removes it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="$REPO/.venv/bin/python"
PORT="${KUBEFOUNDRY_API_PORT:-3001}"
LOGS="${KUBEFOUNDRY_CACHE:-$HOME/.cache/kubefoundry}/logs"
mkdir -p "$LOGS"

bash "$HERE/cluster.sh" up
export KUBECONFIG
KUBECONFIG="$(bash "$HERE/cluster.sh" kubeconfig)"
KUBECTL="$(bash "$HERE/cluster.sh" kubectl-path)"

"$KUBECTL" apply --server-side --force-conflicts --field-manager kubefoundry-dev -f "$REPO/crds" >/dev/null
"$KUBECTL" wait --for=condition=Established crd --all --timeout=60s >/dev/null

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[dev] stopping KubeFoundry processes (the cluster keeps running; 'make cluster-down' removes it)"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

start() { # name command...
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  echo "[dev] started $name (pid $!, log $LOGS/$name.log)"
}

echo "[dev] the Dynamo STAND-IN plays NVIDIA Dynamo's operator here (the real one needs GPUs and images)"
start dynamo-standin "$PY" -m kubefoundry.operator.standin
if [[ -x "$HERE/install-dynamo-provider.sh" ]]; then
  bash "$HERE/install-dynamo-provider.sh" >"$LOGS/provider-install.log" 2>&1 &
fi
start operator "$PY" -m kubefoundry.operator --liveness http://127.0.0.1:8081/healthz
start api "$PY" -m kubefoundry.api --port "$PORT"

cat <<MSG

KubeFoundry is running.
  REST API:    http://localhost:$PORT/api   (try: curl localhost:$PORT/api/cluster/status)
  kubectl:     export KUBECONFIG=$KUBECONFIG PATH=$(dirname "$(dirname "$KUBECTL")")/path:\$PATH
               then: kubectl get nodes   (kubectl and helm $(basename "$KUBECTL" | sed 's/kubectl-//') built for this cluster)
  deploy:      kubectl apply -f deploy/examples/qwen.yaml, then kubectl get kfd -w
  logs:        $LOGS/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "[dev] a process exited; see $LOGS" >&2
