"""Operator benchmark (a script, not a test): how fast N KubeFoundryDeployments become children and Ready.

    .venv/bin/python tests/bench/bench_operator.py --counts 100 1000

Runs on a dedicated local cluster (KUBEFOUNDRY_CLUSTER_NAME=kf-bench, nodes with room for many pods),
with the operator and the Dynamo stand-in as subprocesses. For each N it reports: time until every
child exists, p50/p99 latency from creation to child and from creation to Ready, the operator's peak
RSS, and, in the same run, how long the API server takes to create N children directly (the ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from harness import CLUSTER_SH, BackgroundProcess, provider_crds_dir
from kubefoundry.operator.models.deployment import KFD, KubeFoundryDeploymentSpec
from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.runtime import kube as k

CLUSTER_NAME = "kf-bench"
TOPOLOGY = """
nodePools:
  - name: gpu-h100
    count: 2
    gpus: 8
    cpu: "1000"
    memory: 8Ti
    pods: 1500
  - name: cpu
    count: 2
    cpu: "1000"
    memory: 8Ti
    pods: 1500
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.2)


async def watch_names(
    kube: k.Kube, res: k.Resource, namespace: str, seen: dict[str, float], ready: dict[str, float] | None
) -> None:
    """Records when each object is first seen (and, for KFDs, first Ready) while the run lasts."""
    listing = await kube.list(res, namespace)
    rv = listing["metadata"]["resourceVersion"]
    while True:
        try:
            async for event in kube.watch(res, namespace, resource_version=rv, timeout_seconds=60):
                obj = event["object"]
                rv = obj["metadata"].get("resourceVersion", rv)
                if event["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                now = time.monotonic()
                seen.setdefault(name, now)
                if ready is not None and name not in ready:
                    conds = (obj.get("status") or {}).get("conditions") or []
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                        ready[name] = now
        except (k.Gone, k.ClusterUnavailable):
            rv = (await kube.list(res, namespace))["metadata"]["resourceVersion"]


async def create_all(kube: k.Kube, res: k.Resource, namespace: str, bodies: list[dict[str, Any]]) -> dict[str, float]:
    started: dict[str, float] = {}
    limit = asyncio.Semaphore(50)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            started[body["metadata"]["name"]] = time.monotonic()
            await kube.create(res, body, namespace)

    await asyncio.gather(*(one(b) for b in bodies))
    return started


async def run_once(kube: k.Kube, kubectl: list[str], n: int, timeout: float) -> dict[str, Any]:
    ns = f"bench-{n}-{int(time.time())}"
    subprocess.run([*kubectl, "create", "namespace", ns], check=True, capture_output=True)
    child_seen: dict[str, float] = {}
    kfd_seen: dict[str, float] = {}
    kfd_ready: dict[str, float] = {}
    provider = get_provider("dynamo")
    watchers = [
        asyncio.create_task(watch_names(kube, provider.resource, ns, child_seen, None)),
        asyncio.create_task(watch_names(kube, KFD, ns, kfd_seen, kfd_ready)),
    ]
    await asyncio.sleep(0.5)
    bodies = [
        {
            "apiVersion": "kubefoundry.io/v1alpha1",
            "kind": "KubeFoundryDeployment",
            "metadata": {"name": f"m{i:04d}"},
            "spec": {"modelId": "Qwen/Qwen3-0.6B", "replicas": 0},
        }
        for i in range(n)
    ]
    t0 = time.monotonic()
    started = await create_all(kube, KFD, ns, bodies)
    create_done = time.monotonic() - t0
    deadline = time.monotonic() + timeout
    while len(child_seen) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    all_children = (max(child_seen.values()) - t0) if len(child_seen) == n else float("nan")
    while len(kfd_ready) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    all_ready = (max(kfd_ready.values()) - t0) if len(kfd_ready) == n else float("nan")
    for w in watchers:
        w.cancel()
    to_child = [child_seen[name] - started[name] for name in child_seen if name in started]
    to_ready = [kfd_ready[name] - started[name] for name in kfd_ready if name in started]

    # The ceiling: the API server creating the same N children directly, same concurrency.
    ceiling_ns = f"{ns}-direct"
    subprocess.run([*kubectl, "create", "namespace", ceiling_ns], check=True, capture_output=True)
    spec = KubeFoundryDeploymentSpec.model_validate({"modelId": "Qwen/Qwen3-0.6B", "replicas": 0})
    children = []
    for i in range(n):
        body = provider.render(f"m{i:04d}", ceiling_ns, spec)
        body["metadata"]["name"] = f"m{i:04d}"
        children.append(body)
    t1 = time.monotonic()
    await create_all(kube, provider.resource, ceiling_ns, children)
    direct = time.monotonic() - t1
    for namespace in (ns, ceiling_ns):
        subprocess.run([*kubectl, "delete", "namespace", namespace, "--wait=false"], check=False, capture_output=True)
    return {
        "n": n,
        "create_calls_s": create_done,
        "all_children_s": all_children,
        "child_p50_s": pct(to_child, 0.5),
        "child_p99_s": pct(to_child, 0.99),
        "all_ready_s": all_ready,
        "ready_p50_s": pct(to_ready, 0.5),
        "ready_p99_s": pct(to_ready, 0.99),
        "ready_count": len(kfd_ready),
        "direct_children_s": direct,
    }


async def main_async(counts: list[int], timeout: float) -> None:
    env = {**os.environ, "KUBEFOUNDRY_CLUSTER_NAME": CLUSTER_NAME}
    topo = Path(tempfile.mkdtemp()) / "topology.yaml"
    topo.write_text(TOPOLOGY)
    env["KUBEFOUNDRY_TOPOLOGY"] = str(topo)

    def sh(*args: str) -> str:
        out = subprocess.run(["bash", str(CLUSTER_SH), *args], env=env, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    sh("up")
    kubeconfig, kubectl_bin = sh("kubeconfig"), sh("kubectl-path")
    kubectl = [kubectl_bin, "--kubeconfig", kubeconfig]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(provider_crds_dir() / "dynamo")], check=True, capture_output=True
    )
    subprocess.run([*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True, capture_output=True)
    standin = BackgroundProcess("bench-standin", [sys.executable, "-m", "kubefoundry.simulator.dynamo"], kubeconfig)
    operator = BackgroundProcess("bench-operator", [sys.executable, "-m", "kubefoundry.operator"], kubeconfig)
    standin.start()
    operator.start()
    assert operator.proc is not None
    sampler = RssSampler(operator.proc.pid)
    sampler.start()
    kube = await k.Kube.connect(kubeconfig)
    try:
        await asyncio.sleep(3)
        print(
            f"{'N':>6} {'creates':>8} {'children':>9} {'child p50':>10} {'child p99':>10} {'all Ready':>10} "
            f"{'Ready p50':>10} {'Ready p99':>10} {'direct':>8} {'op RSS':>8}"
        )
        for n in counts:
            r = await run_once(kube, kubectl, n, timeout)
            print(
                f"{r['n']:>6} {r['create_calls_s']:>7.1f}s {r['all_children_s']:>8.1f}s {r['child_p50_s']:>9.2f}s "
                f"{r['child_p99_s']:>9.2f}s {r['all_ready_s']:>9.1f}s {r['ready_p50_s']:>9.2f}s "
                f"{r['ready_p99_s']:>9.2f}s {r['direct_children_s']:>7.1f}s {sampler.peak / 2**20:>6.0f}MiB"
                + ("" if r["ready_count"] == r["n"] else f"  (only {r['ready_count']} Ready before the timeout)"),
                flush=True,
            )
            await asyncio.sleep(5)
    finally:
        await kube.close()
        sampler.stop_flag.set()
        operator.stop()
        standin.stop()
        if os.environ.get("KUBEFOUNDRY_BENCH_KEEP_CLUSTER") != "1":
            sh("down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--timeout", type=float, default=900, help="per-N limit in seconds")
    args = parser.parse_args()
    asyncio.run(main_async(args.counts, args.timeout))


if __name__ == "__main__":
    main()
