"""GET /api/installation/helm/status runs helm once per API process, however many ask at once.

Each request used to start `helm version`: 200 concurrent requests ran 24 helm processes (668 MiB). The
API runs as a process of its own (a fresh cache) with a helm that records each time it is started.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp
from api_fixtures import api_process

from harness import Cluster, helm_binary

CONCURRENT = 200


async def _status(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with session.get(url) as resp:
        return resp.status, await resp.json()


async def test_helm_runs_once_for_many_concurrent_requests(cluster: Cluster, tmp_path: Path) -> None:
    starts = tmp_path / "helm-starts"
    counting = tmp_path / "helm"
    counting.write_text(f'#!/bin/sh\necho "$*" >> {starts}\nexec {helm_binary()} "$@"\n')
    counting.chmod(counting.stat().st_mode | stat.S_IXUSR)
    # Blocks the event loop while the process starts; nothing else runs in it meanwhile.
    with api_process("api-helm", cluster.kubeconfig, env={"KUBEFOUNDRY_HELM": str(counting)}) as (_, port):
        url = f"http://127.0.0.1:{port}/api/installation/helm/status"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENT)) as session:
            answers = await asyncio.gather(*(_status(session, url) for _ in range(CONCURRENT)))
            again = await _status(session, url)
    assert {status for status, _ in answers} == {200}
    assert {str(body) for _, body in answers} == {str({"available": True, "version": "v3.19.0"})}
    assert again == (200, {"available": True, "version": "v3.19.0"})
    runs = starts.read_text().splitlines()
    assert len(runs) == 1 and runs[0].endswith("version --template {{.Version}}"), runs
