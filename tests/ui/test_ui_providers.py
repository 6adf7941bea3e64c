"""Uninstall and reinstall the Dynamo provider from the Providers page, with the operator's progress.

A ProviderInstall is cluster-wide (one per provider), so this runs on a local cluster of its own with an
operator of its own: uninstalling the provider of a cluster others use (a `make dev` cluster) is not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from ui_support import UiServer, check_page, start_server

from harness import BackgroundProcess, Cluster, dedicated_local_cluster, install_kubefoundry_crds, operator_env

INSTALL_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def own_cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        pytest.skip("uninstalls the provider: runs only on a local cluster of its own")
    with dedicated_local_cluster("kf-ui") as own:
        yield own


def providerinstall(cluster: Cluster) -> dict[str, object] | None:
    done = cluster.kubectl("get", "providerinstall", "dynamo", "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


@pytest.fixture(scope="module")
def installed(own_cluster: Cluster, local_charts: Path) -> Iterator[UiServer]:
    """KubeFoundry on its own cluster, with Dynamo installed through a ProviderInstall (as make dev does)."""
    install_kubefoundry_crds(own_cluster)
    env = {
        **operator_env(local_charts),
        "KUBEFOUNDRY_INSTALL_RETRY_BASE_SECONDS": "1",
        "KUBEFOUNDRY_INSTALL_MONITOR_FAST_SECONDS": "0.5",
    }
    operator = BackgroundProcess(
        "operator-ui-providers", [sys.executable, "-m", "kubefoundry.operator"], own_cluster.kubeconfig, env
    )
    operator.start()
    server = start_server(
        "api-ui-providers", own_cluster.kubeconfig, env={"KUBEFOUNDRY_DEFAULT_CHART_SOURCE": str(local_charts)}
    )
    try:
        manifest = subprocess.run(
            [sys.executable, "-m", "kubefoundry.simulator.localchart", "manifest", "--dest", str(local_charts)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        own_cluster.kubectl("apply", "-f", "-", input=manifest)
        deadline = time.monotonic() + INSTALL_TIMEOUT_MS / 1000
        while not ((providerinstall(own_cluster) or {}).get("status") or {}).get("installed"):  # type: ignore[union-attr]
            assert operator.running(), operator.log()[-5000:]
            assert time.monotonic() < deadline, f"Dynamo was not installed; operator log:\n{operator.log()[-5000:]}"
            time.sleep(0.5)
        yield server
    finally:
        server.process.stop()
        operator.stop()


def test_uninstall_and_reinstall_dynamo_with_visible_progress(
    page: Page, installed: UiServer, own_cluster: Cluster
) -> None:
    page.goto(installed.url("/providers"))
    card = page.get_by_role("region", name="NVIDIA Dynamo")
    owner = page.get_by_test_id("owner-dynamo")
    progress = page.get_by_test_id("progress-dynamo")
    expect(owner).to_have_text("Installed and managed by KubeFoundry")
    expect(card.get_by_role("list", name="NVIDIA Dynamo installation")).to_contain_text("CRDs: yes")
    expect(card.get_by_role("list", name="NVIDIA Dynamo installation")).to_contain_text("Operator running: yes")
    card.get_by_text("Install by hand").click()
    expect(card.get_by_label("helm commands for NVIDIA Dynamo", exact=True)).to_contain_text("helm upgrade --install")
    check_page(page, "providers")

    card.get_by_role("button", name="Uninstall").click()
    dialog = page.get_by_role("dialog", name="Uninstall NVIDIA Dynamo?")
    expect(dialog).to_contain_text("CRDs are kept")
    dialog.get_by_role("button", name="Uninstall").click()
    expect(progress).to_contain_text("Uninstalling")  # while the operator runs helm uninstall
    expect(progress).to_contain_text("was uninstalled", timeout=INSTALL_TIMEOUT_MS)
    expect(owner).to_contain_text("Not installed", timeout=30_000)
    assert providerinstall(own_cluster) is None

    card.get_by_role("button", name="Install NVIDIA Dynamo").click()
    expect(progress).to_contain_text("Installing")
    expect(owner).to_have_text("Installed and managed by KubeFoundry", timeout=INSTALL_TIMEOUT_MS)
    expect(card.get_by_text("Installed", exact=True)).to_be_visible(timeout=INSTALL_TIMEOUT_MS)
    card.get_by_text("Helm steps").click()
    expect(card.get_by_role("listitem").filter(has_text="install dynamo-platform").first).to_contain_text("Succeeded")
    stored = providerinstall(own_cluster)
    assert stored is not None and stored["status"]["installed"] is True  # type: ignore[index]
    check_page(page, "providers-reinstalled")
