"""Benchmark of the REST API's read path with many KubeFoundryDeployments (a script, not a test).

    .venv/bin/python tests/bench/bench_api.py [--own-cluster] [--count 1000] [--clients 20] [--seconds 10]

Creates COUNT KubeFoundryDeployments in a fresh namespace directly through the API server, starts
`python -m kubefoundry.api` on a random port, waits until its cache holds them, then measures
GET /api/deployments and GET /api/deployments/{name} under CLIENTS concurrent clients for SECONDS
each (p50/p99 latency, requests per second), the server's RSS, and `kubectl get kfd -A -o json` as a
reference. Deletes the namespace at the end. Uses KUBECONFIG, else the local cluster's kubeconfig;
with --own-cluster it brings up a separate local cluster (`kf-bench`) and removes it afterwards, so an
operator watching the shared cluster does not reconcile a thousand benchmark objects.
The load generator runs on the same machine as the server and shares its CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "deploy" / "local" / "cluster.sh"


BENCH_CLUSTER = "kf-bench"


def _sh(*args: str, cluster: str | None = None) -> str:
    env = {**os.environ, **({"KUBEFOUNDRY_CLUSTER_NAME": cluster} if cluster else {})}
    done = subprocess.run(["bash", str(CLUSTER_SH), *args], check=True, capture_output=True, text=True, env=env)
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _kfd(name: str) -> dict[str, Any]:
    # replicas 0: should an operator be watching the cluster, it starts no workers for these.
    return {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "KubeFoundryDeployment",
        "metadata": {"name": name},
        "spec": {"modelId": "Qwen/Qwen3-0.6B", "provider": "dynamo", "replicas": 0},
    }


async def create_many(kube: k.Kube, namespace: str, count: int, concurrency: int = 64) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await kube.create(KFD, _kfd(f"bench-{i:05d}"), namespace)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - start


async def load(
    session: aiohttp.ClientSession, urls: list[str], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """Each client requests a random URL of `urls` back to back; returns latencies (ms), errors, elapsed."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            url = random.choice(urls)
            t0 = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - start


def kubectl_latency(kubectl: str, kubeconfig: str, runs: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [kubectl, "--kubeconfig", kubeconfig, "get", "kfd", "-A", "-o", "json"],
            check=True,
            capture_output=True,
        ).stdout
        times.append((time.perf_counter() - t0) * 1000)
        size = len(out)
    return times, size


def bench_token(kubectl: str, kubeconfig: str, namespace: str) -> str:
    """A token of ServiceAccount `bench` in `namespace`, bound to cluster-admin (on the benchmark's cluster)."""
    run = [kubectl, "--kubeconfig", kubeconfig]
    subprocess.run([*run, "create", "serviceaccount", "bench", "-n", namespace], check=True, capture_output=True)
    subprocess.run(
        [*run, "create", "clusterrolebinding", f"{namespace}-bench", "--clusterrole=cluster-admin",
         f"--serviceaccount={namespace}:bench"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    token = subprocess.run([*run, "create", "token", "bench", "-n", namespace], check=True, capture_output=True)
    return token.stdout.decode().strip()


def report(name: str, latencies: list[float], errors: int, elapsed: float) -> None:
    print(
        f"{name:<40} n={len(latencies):>6}  p50={_pct(latencies, 50):7.2f} ms  p99={_pct(latencies, 99):7.2f} ms"
        f"  {len(latencies) / elapsed:8.0f} req/s  errors={errors}"
    )


async def main(args: argparse.Namespace, kubeconfig: str, kubectl: str) -> None:
    kube = await k.Kube.connect(kubeconfig)
    namespace = f"kf-bench-{uuid.uuid4().hex[:6]}"
    await kube.create(k.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    server: subprocess.Popen[bytes] | None = None
    try:
        created_in = await create_many(kube, namespace, args.count)
        print(f"created {args.count} KubeFoundryDeployments in {namespace} in {created_in:.1f} s")
        total = len((await kube.list(KFD))["items"])

        port = _free_port()
        env = {**os.environ, "KUBECONFIG": kubeconfig, "KUBEFOUNDRY_LOG_LEVEL": "WARNING", "PYTHONSAFEPATH": "1"}
        argv = [sys.executable, "-m", "kubefoundry.api", "--host", "127.0.0.1", "--port", str(port)]
        headers = {}
        if args.auth:
            # Every request is then authenticated and authorized (answers cached: the steady-state cost).
            argv += ["--auth", "kubernetes"]
            headers["Authorization"] = f"Bearer {bench_token(kubectl, kubeconfig, namespace)}"
        server = subprocess.Popen(argv, env=env)  # noqa: ASYNC220 - started once, not awaited
        print(f"API server {'with --auth kubernetes' if args.auth else 'without authentication'}")
        base = f"http://127.0.0.1:{port}/api"
        proc = psutil.Process(server.pid)
        t0 = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=args.clients)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            while True:
                try:
                    async with session.get(f"{base}/deployments", params={"namespace": namespace}) as resp:
                        if resp.status == 200 and len((await resp.json())["deployments"]) == args.count:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            rss = proc.memory_info().rss / 2**20
            print(f"API server up and synced in {time.perf_counter() - t0:.2f} s; RSS {rss:.1f} MiB")

            names = [f"bench-{i:05d}" for i in range(args.count)]
            cases = [
                (f"GET /api/deployments ({total} in all)", [f"{base}/deployments"]),
                (f"GET /api/deployments?namespace= ({args.count})", [f"{base}/deployments?namespace={namespace}"]),
                ("GET /api/deployments/{name}", [f"{base}/deployments/{n}?namespace={namespace}" for n in names]),
            ]
            for _, urls in cases:  # warm-up
                await load(session, urls, args.clients, 1.0)
            print(f"\n{args.clients} concurrent clients, {args.seconds:.0f} s per endpoint:")
            for name, urls in cases:
                report(name, *await load(session, urls, args.clients, args.seconds))
            print(f"server RSS after the load: {proc.memory_info().rss / 2**20:.1f} MiB")

        times, size = kubectl_latency(kubectl, kubeconfig, args.kubectl_runs)
        print(
            f"\nreference: kubectl get kfd -A -o json ({total} objects, {size / 2**20:.1f} MiB), {len(times)} runs: "
            f"median {statistics.median(times):.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        await kube.delete(k.NAMESPACES, namespace)
        if args.auth:
            subprocess.run([kubectl, "--kubeconfig", kubeconfig, "delete", "clusterrolebinding", f"{namespace}-bench",
                            "--ignore-not-found"], check=False, capture_output=True)  # fmt: skip
        await kube.close()
        print(f"deleted namespace {namespace}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kubectl-runs", type=int, default=5)
    parser.add_argument("--auth", action="store_true", help="run the API with --auth kubernetes")
    parser.add_argument("--own-cluster", action="store_true", help=f"run on a separate local cluster ({BENCH_CLUSTER})")
    args = parser.parse_args()
    cluster = BENCH_CLUSTER if args.own_cluster else None
    if cluster:
        _sh("up", cluster=cluster)
    try:
        config = _sh("kubeconfig", cluster=cluster) if cluster else os.environ.get("KUBECONFIG") or _sh("kubeconfig")
        kubectl_bin = os.environ.get("KUBECTL") or _sh("kubectl-path")
        if cluster:
            subprocess.run([kubectl_bin, "--kubeconfig", config, "apply", "--server-side", "-f", str(REPO / "crds")],
                           check=True, capture_output=True)  # fmt: skip
            subprocess.run([kubectl_bin, "--kubeconfig", config, "wait", "--for=condition=Established", "crd",
                            "--all", "--timeout=60s"], check=True, capture_output=True)  # fmt: skip
        asyncio.run(main(args, config, kubectl_bin))
    finally:
        if cluster:
            _sh("down", cluster=cluster)
