"""detect_installation against the real API server, with a provider whose operator labels are this test's own.

The labels are unique to the test, so the fake operator Deployment it creates cannot make any other
test (or the API) believe a real provider is installed.
"""

from __future__ import annotations

import uuid
from typing import Any

from harness import Cluster
from kubefoundry.operator.providers import InstallSpec
from kubefoundry.operator.providers.detect import detect_installation
from kubefoundry.operator.providers.dynamo import DynamoProvider
from kubefoundry.operator.runtime import kube as k
from support import eventually


class _LabelledProvider(DynamoProvider):
    def __init__(self, operator_labels: dict[str, str], crd_names: tuple[str, ...]) -> None:
        self._labels = operator_labels
        self._crds = crd_names

    def install_spec(self) -> InstallSpec:
        real = super().install_spec()
        return InstallSpec(real.default_version, real.namespace, real.charts, self._crds, self._labels)


def _operator(labels: dict[str, str], image: str, version: str | None) -> dict[str, Any]:
    meta_labels = {**labels, **({"app.kubernetes.io/version": version} if version else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fake-operator", "labels": meta_labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "manager", "image": image}]},
            },
        },
    }


async def test_detects_crds_and_an_available_operator_in_any_namespace(
    kube: k.Kube, namespace: str, provider_crds: object, cluster: Cluster
) -> None:
    labels = {"kubefoundry.io/test-operator": uuid.uuid4().hex[:12]}
    real_crds = DynamoProvider().install_spec().crd_names
    provider = _LabelledProvider(labels, real_crds)

    state = await detect_installation(kube, provider)
    assert (state.crd_installed, state.operator_installed, state.installed) == (True, False, False)
    assert state.version is None and state.missing_crds == ()

    await kube.create(k.DEPLOYMENTS, _operator(labels, "registry.invalid/op:v0.9", "1.2.3"), namespace)

    async def available() -> Any:
        found = await detect_installation(kube, provider)
        return found if found.installed else None

    state = await eventually(available, 60, what="the fake operator to become Available")
    assert (state.crd_installed, state.operator_installed, state.version) == (True, True, "1.2.3")
    assert state.operator_namespace == namespace

    # Without the version label, the image tag tells the version.
    cluster.kubectl("label", "deployment", "fake-operator", "-n", namespace, "app.kubernetes.io/version-")
    assert (await detect_installation(kube, provider)).version == "v0.9"

    missing = _LabelledProvider(labels, (*real_crds, "widgets.example.kubefoundry.io"))
    state = await detect_installation(kube, missing)
    assert (state.crd_installed, state.operator_installed, state.installed) == (False, True, False)
    assert state.missing_crds == ("widgets.example.kubefoundry.io",)
