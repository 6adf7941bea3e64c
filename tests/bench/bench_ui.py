"""Benchmark of the web UI (a script, not a test): bundle size, first full list, change-to-screen delay.

    .venv/bin/python tests/bench/bench_ui.py [--count 1000] [--changes 50] [--loads 5] [--keep-cluster]

1. Bundle: the gzipped size (level 9) of every JS and CSS file of the built app (api/static/assets).
2. On a local cluster of its own (`kf-bench-ui`, so no operator reconciles the objects) it creates COUNT
   KubeFoundryDeployments, starts `python -m kubefoundry.api` serving the UI, and opens the Deployments
   page in headless Chromium (Debian's, through Playwright) LOADS times, each in a fresh browser context:
   the time from navigation start to the page showing all COUNT rows (`performance.now()` in the page
   when the last row is there; page load, the event stream's snapshot and the rendering included).
3. With the page open, CHANGES times one after the other: a status change written to the cluster (the
   phase of one deployment, through the status subresource, as the operator writes it) and the time
   until the browser shows it (a MutationObserver in the page stamps the moment the row's phase changes;
   browser and script read the same clock). Prints p50/p99/max.

Cluster, API server, browser and this script share the machine's CPUs (2 on the project's machines).
Targets (issue 12): bundle <= 150 KB gzipped, first full list <= 1 s, change-to-screen p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psutil
from playwright.async_api import async_playwright

from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k

REPO = Path(__file__).resolve().parents[2]
# Safe-path mode (PYTHONSAFEPATH) leaves the script's own folder out of sys.path.
sys.path[:0] = [str(REPO / "tests" / "bench"), str(REPO / "tests")]
from bench_api import _pct, create_many

from harness import CHROMIUM, CHROMIUM_ARGS, free_port

CLUSTER_SH = REPO / "deploy" / "local" / "cluster.sh"
BUILD = REPO / "api" / "static"
BENCH_CLUSTER = "kf-bench-ui"

# A function, not an expression: our CSP forbids the page to eval a string (Playwright's polling would).
ALL_ROWS = "(count) => document.querySelectorAll('[data-deployment]').length >= count"
# Stamps, per deployment, when its row first shows the phase the benchmark waits for.
OBSERVER = """
(expected) => {
  window.__expected = expected;
  window.__seen = {};
  const check = (row) => {
    const key = row && row.dataset.deployment;
    if (!key || window.__seen[key] || !window.__expected[key]) return;
    if (row.querySelector('.badge')?.textContent === window.__expected[key]) window.__seen[key] = Date.now();
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const node = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      check(node?.closest('[data-deployment]'));
      for (const added of m.addedNodes) {
        if (added.nodeType === 1) check(added.closest?.('[data-deployment]') ?? added);
      }
    }
  }).observe(document.querySelector('.grid-body'), {subtree: true, childList: true, characterData: true});
}
"""


def _sh(*args: str, cluster: str) -> str:
    env = {**os.environ, "KUBEFOUNDRY_CLUSTER_NAME": cluster}
    done = subprocess.run(["bash", str(CLUSTER_SH), *args], check=True, capture_output=True, text=True, env=env)
    return done.stdout.strip()


def bundle_size() -> tuple[int, int, list[str]]:
    """(raw bytes, gzipped bytes, file names) of the built JS and CSS."""
    files = sorted(p for p in (BUILD / "assets").iterdir() if p.suffix in (".js", ".css"))
    if not files:
        sys.exit("the UI is not built: run make ui")
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in files)
    return raw, packed, [p.name for p in files]


async def wait_synced(base: str, namespace: str, count: int) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{base}/api/deployments", params={"namespace": namespace}) as resp:
                    if resp.status == 200 and len((await resp.json())["deployments"]) == count:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def main(args: argparse.Namespace, kubeconfig: str) -> None:
    raw, packed, names = bundle_size()
    print(f"bundle: {', '.join(names)}: {raw / 1024:.1f} KB, gzipped {packed / 1024:.1f} KB (target <= 150 KB)")

    kube = await k.Kube.connect(kubeconfig)
    namespace = f"kf-bench-{uuid.uuid4().hex[:6]}"
    await kube.create(k.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    server: subprocess.Popen[bytes] | None = None
    try:
        created_in = await create_many(kube, namespace, args.count)
        print(f"created {args.count} KubeFoundryDeployments in {namespace} in {created_in:.1f} s")
        port = free_port()
        env = {**os.environ, "KUBECONFIG": kubeconfig, "KUBEFOUNDRY_LOG_LEVEL": "WARNING", "PYTHONSAFEPATH": "1"}
        argv = [
            sys.executable,
            "-m",
            "kubefoundry.api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-dir",
            str(BUILD),
        ]
        server = subprocess.Popen(argv, env=env)  # noqa: ASYNC220 - started once, not awaited
        base = f"http://127.0.0.1:{port}"
        await wait_synced(base, namespace, args.count)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
            loads: list[float] = []
            for _ in range(args.loads):
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                await page.goto(f"{base}/deployments", wait_until="commit")
                await page.wait_for_function(ALL_ROWS, arg=args.count, timeout=60_000)
                loads.append(await page.evaluate("performance.now()"))
                await context.close()
            print(
                f"first full list of {args.count} deployments, {args.loads} loads in fresh contexts: "
                f"first {loads[0]:.0f} ms, median {statistics.median(loads):.0f} ms, max {max(loads):.0f} ms "
                "(target <= 1000 ms)"
            )

            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(f"{base}/deployments")
            await page.wait_for_function(ALL_ROWS, arg=args.count, timeout=60_000)
            step = max(args.count // args.changes, 1)  # spread over the list, on screen and below it
            targets = [f"bench-{i:05d}" for i in range(0, step * args.changes, step)][: args.changes]
            await page.evaluate(OBSERVER, {f"{namespace}/{n}": "Running" for n in targets})
            delays: list[float] = []
            for name in targets:
                written = time.time() * 1000
                await kube.merge_patch(KFD, name, {"status": {"phase": "Running"}}, namespace, subresource="status")
                deadline = time.monotonic() + 10
                seen = None
                while seen is None and time.monotonic() < deadline:
                    seen = await page.evaluate(f"window.__seen[{f'{namespace}/{name}'!r}] ?? null")
                    if seen is None:
                        await asyncio.sleep(0.01)
                if seen is None:
                    sys.exit(f"{name}: the change did not reach the page within 10 s")
                delays.append(seen - written)
            print(
                f"change in the cluster -> on screen, {len(delays)} status changes with {args.count} rows shown: "
                f"p50 {_pct(delays, 50):.0f} ms, p99 {_pct(delays, 99):.0f} ms, max {max(delays):.0f} ms "
                "(target p99 <= 1000 ms)"
            )
            await browser.close()
        print(f"API server RSS: {psutil.Process(server.pid).memory_info().rss / 2**20:.1f} MiB")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        await kube.delete(k.NAMESPACES, namespace)
        await kube.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--keep-cluster", action="store_true", help=f"leave {BENCH_CLUSTER} running afterwards")
    args = parser.parse_args()
    _sh("up", cluster=BENCH_CLUSTER)
    try:
        config = _sh("kubeconfig", cluster=BENCH_CLUSTER)
        kubectl = _sh("kubectl-path", cluster=BENCH_CLUSTER)
        for step in (
            ["apply", "--server-side", "-f", str(REPO / "crds")],
            ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
        ):
            subprocess.run([kubectl, "--kubeconfig", config, *step], check=True, capture_output=True)
        asyncio.run(main(args, config))
    finally:
        if not args.keep_cluster:
            _sh("down", cluster=BENCH_CLUSTER)
