"""Find a model, deploy it, watch it come up, scale it, delete it: in the browser, against the real cluster."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect
from ui_support import UiServer, check_page, fail_on_page_errors

from harness import Cluster

RUNNING_TIMEOUT_MS = 120_000


def kfd_json(cluster: Cluster, namespace: str, name: str) -> dict[str, object] | None:
    done = cluster.kubectl("get", "kfd", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def row(page: Page, namespace: str, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-deployment="{namespace}/{name}"]')


def test_deploy_from_the_models_page_watch_scale_and_delete(
    page: Page, ui: UiServer, namespace: str, cluster: Cluster
) -> None:
    errors = fail_on_page_errors(page)
    page.goto(ui.url("/models"))
    expect(page.get_by_role("heading", name="Models", level=1)).to_be_visible()
    page.get_by_label("Search").fill("qwen3 0.6")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Qwen3 0.6B"))
    expect(card).to_have_count(1)
    # Whether it fits, with the reason on keyboard focus (and hover).
    badge = card.locator(".fit-badge")
    expect(badge).to_have_text(re.compile("^(Fits|Tight)$"))
    badge.focus()
    expect(card.get_by_role("tooltip")).to_be_visible()
    expect(card.get_by_role("tooltip")).to_contain_text("GPU")
    page.get_by_label("Engine").select_option("sglang")
    expect(card).to_have_count(1)
    check_page(page, "models")

    card.get_by_role("link", name="Deploy Qwen3 0.6B").click()
    expect(page).to_have_url(re.compile(r"/deploy\?model=Qwen%2FQwen3-0\.6B$"))
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    expect(page.get_by_label("Model", exact=True)).to_have_value("Qwen/Qwen3-0.6B")
    expect(page.get_by_label("Name", exact=True)).to_have_value("qwen3-0-6b")
    page.get_by_label("Name", exact=True).fill("qwen")
    page.get_by_label("Namespace", exact=True).fill(namespace)
    # Engines and providers are what the API reports.
    expect(page.get_by_label("Engine", exact=True)).to_contain_text("vllm")
    expect(page.get_by_label("Provider", exact=True)).to_contain_text("NVIDIA Dynamo")
    # Prefill and decode appear only in disaggregated mode.
    expect(page.get_by_role("group", name="Prefill workers")).to_have_count(0)
    page.get_by_label("disaggregated").check()
    expect(page.get_by_role("group", name="Prefill workers")).to_be_visible()
    expect(page.get_by_label("Replicas", exact=True)).to_have_count(0)
    page.get_by_label("aggregated", exact=True).check()
    expect(page.get_by_role("group", name="Prefill workers")).to_have_count(0)
    yaml_block = page.get_by_label("KubeFoundryDeployment YAML", exact=True)
    expect(yaml_block).to_contain_text("modelId: Qwen/Qwen3-0.6B")
    expect(yaml_block).to_contain_text(f"namespace: {namespace}")

    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("Accepted by a server-side dry run")).to_be_visible()
    expect(page.get_by_label("DynamoGraphDeployment qwen", exact=True)).to_contain_text("kind: DynamoGraphDeployment")
    page.get_by_text("Advanced settings").click()
    check_page(page, "deploy")

    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page).to_have_url(re.compile(r"/deployments\?created="))
    r = row(page, namespace, "qwen")
    expect(r).to_be_visible()
    expect(r.locator(".badge")).to_have_text("Running", timeout=RUNNING_TIMEOUT_MS)
    expect(r.locator('[data-col="ready"]')).to_have_text("1/1")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    check_page(page, "deployments")

    r.get_by_role("link", name="qwen").click()
    expect(page.get_by_role("heading", name=re.compile("^qwen"), level=1)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^Ready True"))).to_be_visible()
    expect(page.get_by_text(f"kubectl -n {namespace} port-forward svc/qwen-frontend 8000:8000")).to_be_visible()
    expect(page.locator("[data-pod]").first).to_contain_text("Ready")
    page.get_by_text("Live YAML").click()
    expect(page.get_by_label("KubeFoundryDeployment qwen", exact=True)).to_contain_text("resourceVersion")
    check_page(page, "deployment-details")

    # Scale from the details page: the cluster changes and the page follows.
    page.get_by_label("Replicas", exact=True).fill("2")
    page.get_by_role("button", name="Scale").click()
    expect(page.get_by_test_id("replicas")).to_have_text("2/2", timeout=RUNNING_TIMEOUT_MS)
    assert (kfd_json(cluster, namespace, "qwen") or {})["spec"]["replicas"] == 2  # type: ignore[index]

    # Delete, confirmed in a dialog; the list loses it live.
    page.get_by_role("button", name=f"Delete qwen in {namespace}").click()
    dialog = page.get_by_role("dialog", name="Delete qwen?")
    expect(dialog).to_be_visible()
    check_page(page, "delete-dialog")
    dialog.get_by_role("button", name="Delete deployment").click()
    expect(page).to_have_url(re.compile(r"/deployments$"))
    expect(row(page, namespace, "qwen")).to_have_count(0, timeout=60_000)
    deadline = time.monotonic() + 60
    while kfd_json(cluster, namespace, "qwen") is not None:
        assert time.monotonic() < deadline, "the deployment was not deleted"
        time.sleep(0.5)
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []


def test_a_field_error_appears_next_to_its_field(page: Page, ui: UiServer, namespace: str) -> None:
    page.goto(ui.url("/deploy?model=Qwen/Qwen3-0.6B"))
    page.get_by_label("Name", exact=True).fill("Not_A_DNS_Label")
    page.get_by_label("Namespace", exact=True).fill(namespace)
    page.get_by_role("button", name="Deploy", exact=True).click()
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    error = page.locator("#f-name-error")
    expect(error).to_contain_text("pattern")
    # The message is tied to its field for screen readers, and summarised at the top.
    assert "f-name-error" in (name.get_attribute("aria-describedby") or "")
    expect(page.get_by_role("alert")).to_contain_text("Please correct the highlighted fields")
    check_page(page, "deploy-field-error")
    # Correcting the field clears its error.
    name.fill("good-name")
    expect(error).to_have_count(0)


@pytest.mark.usefixtures("ui")
def test_too_big_stays_pending_and_the_details_say_why(
    page: Page, ui: UiServer, namespace: str, cluster: Cluster
) -> None:
    page.goto(ui.url("/deploy?model=Qwen/Qwen3-0.6B"))
    page.get_by_label("Name", exact=True).fill("huge")
    page.get_by_label("Namespace", exact=True).fill(namespace)
    page.get_by_label("Replicas", exact=True).fill("3")
    page.get_by_label("GPUs per replica", exact=True).fill("8")
    page.get_by_role("button", name="Deploy", exact=True).click()
    r = row(page, namespace, "huge")
    expect(r.locator(".badge")).to_have_text("Pending", timeout=RUNNING_TIMEOUT_MS)
    try:
        r.get_by_role("link", name="huge").click()
        pending = page.locator("[data-pod]").filter(has_text="Pending")
        expect(pending.first).to_contain_text("not enough free GPUs", timeout=60_000)
        expect(pending.first).to_contain_text("None of the")
        expect(page.get_by_role("status").filter(has_text="Why it is not ready")).to_contain_text(
            "Insufficient nvidia.com/gpu"
        )
        expect(page.get_by_role("row").filter(has_text="FailedScheduling").first).to_be_visible(timeout=30_000)
        check_page(page, "deployment-pending")
    finally:
        # Give the GPUs back before anything else runs.
        cluster.kubectl("delete", "kfd", "huge", "-n", namespace, "--wait=true", "--timeout=60s", check=False)
