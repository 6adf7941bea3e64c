"""`--auth kubernetes`: the API asks the cluster who calls (TokenReview) and whether they may
(SubjectAccessReview), so a namespace's RBAC governs the API as it governs kubectl.

Alice is a ServiceAccount bound to the built-in `edit` role in one namespace only; the manifest's
aggregated ClusterRoles give `edit` its rights on KubeFoundryDeployments. Real API server, no mocks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_fixtures import Api, assert_error, start_api

from harness import MANIFEST, Cluster, create_test_namespace, service_account_kubeconfig
from kubefoundry.api.auth import KubernetesAuth
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from support import eventually

pytest_plugins = ["api_fixtures"]

USER_ROLES = ("kubefoundry-view", "kubefoundry-edit")


@pytest.fixture
async def secured(kube: k.Kube, kubefoundry_crds: None, provider_crds: Path) -> AsyncIterator[Api]:
    server = await start_api(kube, auth=KubernetesAuth(kube))
    await server.wait_synced()
    yield server
    await server.client.close()


@pytest.fixture
def other_namespace(cluster: Cluster, namespace: str) -> Any:
    name = f"{namespace}-b"
    create_test_namespace(cluster, name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def alice(cluster: Cluster, namespace: str) -> str:
    """A token of ServiceAccount alice, who may `edit` in `namespace` and nowhere else."""
    roles = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["metadata"]["name"] in USER_ROLES]
    assert len(roles) == len(USER_ROLES)
    cluster.kubectl(
        "apply", "--server-side", "--field-manager", "kubefoundry-test", "-f", "-", input=yaml.safe_dump_all(roles)
    )
    cluster.kubectl("create", "serviceaccount", "alice", "-n", namespace)
    cluster.kubectl(
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole=edit",
        f"--serviceaccount={namespace}:alice",
        "-n",
        namespace,
    )
    who = f"--as=system:serviceaccount:{namespace}:alice"

    async def aggregated() -> bool:  # the controller-manager aggregates the roles into `edit`
        done = cluster.kubectl(
            "auth", "can-i", "create", "kubefoundrydeployments.kubefoundry.io", "-n", namespace, who, check=False
        )
        return done.stdout.strip() == "yes"

    await eventually(aggregated, 60, "edit to include KubeFoundryDeployments")
    return cluster.kubectl("create", "token", "alice", "-n", namespace, "--duration=1h").stdout.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def deployment(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "modelId": "Qwen/Qwen3-0.6B"}


async def test_public_routes_need_no_token_and_the_others_do(secured: Api) -> None:
    assert (await secured.get("/api/health")).status == 200
    assert (await secured.get("/api/openapi.json")).status == 200
    for method, path in [("GET", "/api/deployments"), ("GET", "/api/models"), ("POST", "/api/deployments")]:
        reply = await secured.call(method, path, json_body={} if method == "POST" else None)
        assert_error(reply, 401, "UNAUTHENTICATED")  # before the body is even looked at
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    bad = await secured.call("GET", "/api/deployments", headers=bearer("not-a-token"))
    assert_error(bad, 401, "UNAUTHENTICATED")


async def test_a_namespace_editor_deploys_there_and_nowhere_else(
    secured: Api, kube: k.Kube, namespace: str, other_namespace: str, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    as_alice = bearer(alice)

    async def call(method: str, path: str, body: Any = None, **params: str) -> Any:
        # Every POST says it is JSON, with or without a body (server.py's request guard).
        headers = {**as_alice, "Content-Type": "application/json"}
        return await secured.call(method, path, json_body=body, params=params or None, headers=headers)

    listed = await call("GET", "/api/deployments", namespace=namespace)
    assert listed.status == 200 and listed.body == {"deployments": []}
    everywhere = assert_error(await call("GET", "/api/deployments"), 403, "FORBIDDEN")
    assert "may not list kubefoundrydeployments.kubefoundry.io across the cluster" in everywhere["error"]
    assert f"system:serviceaccount:{namespace}:alice" in everywhere["error"]

    created = await call("POST", "/api/deployments", deployment("mine", namespace))
    assert created.status == 201, created
    elsewhere = assert_error(
        await call("POST", "/api/deployments", deployment("theirs", other_namespace)), 403, "FORBIDDEN"
    )
    assert f"create kubefoundrydeployments.kubefoundry.io in namespace {other_namespace}" in elsewhere["error"]
    assert await kube.get_or_none(KFD, "theirs", other_namespace) is None
    # Authenticated callers get validation errors as anyone would.
    assert_error(
        await call("POST", "/api/deployments", {"name": "Bad Name", "namespace": namespace}), 400, "VALIDATION_ERROR"
    )

    async def visible() -> Any:
        reply = await call("GET", "/api/deployments/mine", namespace=namespace)
        return reply if reply.status == 200 else None

    await eventually(visible, 30, "alice to see her deployment")
    assert_error(await call("GET", "/api/cluster/gpus"), 403, "FORBIDDEN")  # nodes are not hers to list
    assert_error(await call("PUT", "/api/settings", {"activeProviderId": "dynamo"}), 403, "FORBIDDEN")
    assert_error(await call("POST", "/api/installation/providers/dynamo/uninstall"), 403, "FORBIDDEN")
    # The manual commands show the ProviderInstall's values, which may hold credentials.
    assert_error(await call("GET", "/api/installation/providers/dynamo/commands"), 403, "FORBIDDEN")
    # Whether helm runs is installation state too: listing ProviderInstalls is not hers.
    helm = assert_error(await call("GET", "/api/installation/helm/status"), 403, "FORBIDDEN")
    assert "may not list providerinstalls.kubefoundry.io across the cluster" in helm["error"], helm
    assert (await call("GET", "/api/models")).status == 200  # authenticated is enough for the catalog
    deleted = await call("DELETE", "/api/deployments/mine", namespace=namespace)
    assert deleted.status == 200, deleted

    assert alice not in caplog.text  # the token is never logged


def token_reviews_made(cluster: Cluster) -> int:
    """TokenReviews the API server has answered so far (its own request counter)."""
    total = 0
    for line in cluster.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if line.startswith("apiserver_request_total{") and 'resource="tokenreviews"' in line and 'verb="POST"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def test_the_document_says_what_the_server_checks_and_rejected_tokens_cost_one_review(
    secured: Api, cluster: Cluster
) -> None:
    doc = (await secured.get("/api/openapi.json")).body
    create = doc["paths"]["/api/deployments"]["post"]
    assert create["security"] == [{"kubernetesToken": []}] and {"401", "403"} <= set(create["responses"])
    assert "security" not in doc["paths"]["/api/health"]["get"]
    assert doc["components"]["securitySchemes"]["kubernetesToken"]["scheme"] == "bearer"

    before = token_reviews_made(cluster)
    junk = bearer(f"junk-{uuid.uuid4().hex}")
    replies = await asyncio.gather(*(secured.call("GET", "/api/models", headers=junk) for _ in range(8)))
    replies.append(await secured.call("GET", "/api/models", headers=junk))
    assert all(r.status == 401 for r in replies)
    assert token_reviews_made(cluster) - before == 1  # one review for a burst and a retry of the same token


async def test_an_api_without_rights_to_review_tokens_says_so_without_blaming_the_caller(
    cluster: Cluster, namespace: str, alice: str, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "no-delegation", "-n", namespace)
    config = service_account_kubeconfig(cluster, namespace, "no-delegation", tmp_path / "kubeconfig")
    kube = await k.Kube.connect(str(config))
    server = await start_api(kube, auth=KubernetesAuth(kube))
    try:
        reply = await server.call("GET", "/api/models", headers=bearer(alice))
        body = assert_error(reply, 502, "KUBERNETES_ERROR")
        assert "no-delegation" not in body["error"] and "see the API's log" in body["error"]
    finally:
        await server.client.close()
        await kube.close()
