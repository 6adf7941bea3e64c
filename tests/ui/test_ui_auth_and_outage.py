"""The UI with `--auth kubernetes` (a token, who the user is, a clear 403) and with the cluster cut off
(it says so and recovers by itself), each against an API server process of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tcp_proxy import proxied_kubeconfig, upstream
from ui_support import ThreadedProxy, UiServer, check_page, start_server

from harness import Cluster

KFD = {"apiVersion": "kubefoundry.io/v1alpha1", "kind": "KubeFoundryDeployment", "spec": {"modelId": "Qwen/Qwen3-0.6B"}}


def create_kfd(cluster: Cluster, namespace: str, name: str) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps({**KFD, "metadata": {"name": name}}))


@pytest.fixture
def secured(cluster: Cluster, kubefoundry_crds: None) -> Iterator[UiServer]:
    server = start_server("api-ui-auth", cluster.kubeconfig, "--auth", "kubernetes")
    yield server
    server.process.stop()


def test_a_token_without_rights_sees_who_and_what_was_refused(
    page: Page, secured: UiServer, cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = cluster.kubectl("create", "token", "nobody", "-n", namespace, "--duration=30m").stdout.strip()

    page.goto(secured.url("/deployments"))
    expect(page.get_by_role("heading", name="Sign in to KubeFoundry")).to_be_visible()
    check_page(page, "sign-in")
    page.get_by_label("Kubernetes bearer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The cluster does not accept this token")

    page.get_by_label("Kubernetes bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    user = f"system:serviceaccount:{namespace}:nobody"
    expect(page.get_by_text("Signed in as")).to_contain_text(user)
    refused = page.get_by_role("alert").filter(has_text="Not allowed")
    expect(refused).to_contain_text(f"{user} may not list kubefoundrydeployments.kubefoundry.io across the cluster")
    check_page(page, "forbidden")
    # The token lives in this tab's session storage only.
    assert page.evaluate("sessionStorage.getItem('kubefoundry.token')") == token
    assert page.evaluate("localStorage.length") == 0
    # Narrowed to a namespace, still refused there, and said so.
    page.get_by_label("Show the deployments of namespace").fill(namespace)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert").filter(has_text="Not allowed")).to_contain_text(f"in namespace {namespace}")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to KubeFoundry")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('kubefoundry.token')") is None


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[ThreadedProxy]:
    tcp = ThreadedProxy(*upstream(cluster.kubeconfig))
    tcp.start()
    yield tcp
    tcp.close()


def test_the_ui_says_when_the_cluster_is_gone_and_recovers_by_itself(
    page: Page,
    cluster: Cluster,
    kubefoundry_crds: None,
    provider_crds: Path,
    proxy: ThreadedProxy,
    namespace: str,
    tmp_path: Path,
) -> None:
    kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "proxied.kubeconfig")
    server = start_server("api-ui-outage", str(kubeconfig))
    try:
        create_kfd(cluster, namespace, "before")
        page.goto(server.url("/deployments"))
        page.get_by_label("Namespace").select_option(namespace)
        expect(page.locator(f'[data-deployment="{namespace}/before"]')).to_be_visible()
        banner = page.get_by_role("status").filter(has_text="cannot be reached")
        expect(banner).to_have_count(0)

        proxy.stop()
        expect(banner).to_contain_text("The Kubernetes cluster cannot be reached", timeout=30_000)
        expect(banner).to_contain_text("recovers by itself")
        # Still a page: what was last known stays, and other pages explain instead of going blank.
        expect(page.locator(f'[data-deployment="{namespace}/before"]')).to_be_visible()
        check_page(page, "cluster-unreachable")
        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
        expect(page.get_by_role("alert").first).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Deployments").click()

        create_kfd(cluster, namespace, "during")  # made while the API could not see the cluster
        proxy.start()
        expect(banner).to_have_count(0, timeout=30_000)
        page.get_by_label("Namespace").select_option(namespace)
        expect(page.locator(f'[data-deployment="{namespace}/during"]')).to_be_visible(timeout=30_000)
    finally:
        server.process.stop()
