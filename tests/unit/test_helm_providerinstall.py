"""ProviderInstall's model, its CRD (through crdgen) and how its conditions are derived."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from pydantic import ValidationError

from kubefoundry.operator import crdgen
from kubefoundry.operator.installs import status as status_of
from kubefoundry.operator.installs import timing as timing
from kubefoundry.operator.models import providerinstall as pi
from kubefoundry.operator.providers.detect import InstallationState
from kubefoundry.operator.runtime import instance as instance


def build_crd() -> dict[str, Any]:
    spec = crdgen.CrdSpec(
        spec_model=pi.ProviderInstallSpec,
        status_model=pi.ProviderInstallStatus,
        **{key: value for key, value in pi.CRD.items() if key != "printer_columns"},
        printer_columns=tuple(crdgen.PrinterColumn(**c) for c in pi.CRD["printer_columns"]),
    )
    return spec.build()


def test_crd_is_cluster_scoped_with_the_agreed_columns() -> None:
    crd = build_crd()
    assert crd["metadata"]["name"] == "providerinstalls.kubefoundry.io"
    assert crd["spec"]["scope"] == "Cluster"
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Provider", "Version", "Installed", "Age"]


def test_crd_schema_keeps_values_free_form_and_the_cel_rules() -> None:
    root = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = root["properties"]["spec"]
    assert spec["properties"]["values"] == {
        "description": spec["properties"]["values"]["description"],
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert spec["properties"]["removeCrdsOnDelete"]["default"] is False
    rules = [v["rule"] for v in root["x-kubernetes-validations"]]
    assert "self.metadata.name == self.spec.provider" in rules
    source_rules = spec["properties"]["chartSource"]["x-kubernetes-validations"]
    assert "== 1" in source_rules[0]["rule"]
    assert spec["properties"]["namespace"]["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    assert spec["properties"]["chartSource"]["properties"]["repository"]["pattern"].startswith("^https://")
    steps = root["properties"]["status"]["properties"]["steps"]
    assert steps["maxItems"] == pi.MAX_STEPS


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "Dynamo"},
        {"provider": "dynamo", "version": "latest"},
        {"provider": "dynamo", "version": ">=1.0.0"},
        {"provider": "dynamo", "namespace": "Not_A_Namespace"},
        {"provider": "dynamo", "unknownField": 1},
        {"provider": "dynamo", "values": ["not", "an", "object"]},
    ],
)
def test_invalid_specs(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        pi.ProviderInstallSpec.model_validate(fields)


def test_minimal_spec_defaults() -> None:
    spec = pi.ProviderInstallSpec.model_validate({"provider": "dynamo"})
    assert spec.version is None and spec.chartSource is None and spec.namespace is None
    assert spec.values == {}
    assert spec.removeCrdsOnDelete is False


# --- conditions ---------------------------------------------------------------------------------------


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


INSTALLED = InstallationState(True, True, True, "1.0.1", (), "dynamo-system")
MISSING = InstallationState(False, False, False, None, ("dynamographdeployments.nvidia.com",), None)


def applied_status(state: InstallationState, reason: str = pi.R_APPLIED, gen: int = 2) -> dict[str, Any]:
    status: dict[str, Any] = {}
    status_of.apply_detection(status, state, gen)
    status_of.mark(status, pi.ConditionType.FAILED, False, pi.R_SUCCEEDED, "", gen)
    status_of.mark(status, pi.ConditionType.PROGRESSING, reason == pi.R_WAITING_FOR_OPERATOR, reason, "", gen)
    return status


def test_ready_when_applied_and_the_cluster_shows_the_wanted_version() -> None:
    status = applied_status(INSTALLED)
    status_of.derive_ready(status, 2, "1.0.1")
    assert cond(status, "Ready")["status"] == "True"
    assert status["installed"] and status["crdInstalled"] and status["operatorInstalled"]
    assert status["version"] == "1.0.1"


def test_not_ready_for_an_older_generation_or_another_version() -> None:
    status = applied_status(INSTALLED)
    status_of.derive_ready(status, 3, "1.0.1")
    assert (cond(status, "Ready")["status"], cond(status, "Ready")["reason"]) == ("False", pi.R_PENDING)
    status = applied_status(INSTALLED)
    status_of.derive_ready(status, 2, "1.2.0")
    assert cond(status, "Ready")["reason"] == pi.R_VERSION_MISMATCH


def test_not_ready_while_the_operator_is_not_available() -> None:
    status = applied_status(MISSING, pi.R_WAITING_FOR_OPERATOR)
    status_of.derive_ready(status, 2, "1.0.1")
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", pi.R_WAITING_FOR_OPERATOR)
    assert "version" not in status
    assert "dynamographdeployments.nvidia.com" in cond(status, "Installed")["message"]


def test_a_helm_failure_makes_ready_false_with_helms_message() -> None:
    status = applied_status(INSTALLED)
    status_of.mark(status, pi.ConditionType.FAILED, True, pi.R_HELM_FAILED, "Error: UPGRADE FAILED: boom", 2)
    status_of.derive_ready(status, 2, "1.0.1")
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "HelmFailed",
        "Error: UPGRADE FAILED: boom",
    )
    assert status["installed"]  # the old version still runs: the truth, not helm's word


def test_installed_elsewhere_is_ready_without_our_releases() -> None:
    status = applied_status(INSTALLED, pi.R_MANAGED_ELSEWHERE)
    status_of.derive_ready(status, 2, "1.2.0")  # someone else's version is not ours to judge
    assert (cond(status, "Ready")["status"], cond(status, "Ready")["reason"]) == ("True", "InstalledExternally")


def test_steps_are_bounded() -> None:
    status: dict[str, Any] = {}
    for i in range(pi.MAX_STEPS + 5):
        status_of.add_step(
            status, None, pi.StepAction.CHECK, pi.StepOutcome.WAITING, f"step {i}", chart="c", release="r"
        )
    assert len(status["steps"]) == pi.MAX_STEPS
    assert status["steps"][-1]["message"] == f"step {pi.MAX_STEPS + 4}"
    pi.ProviderInstallStatus.model_validate(status)


def test_retry_backoff_grows_and_is_capped() -> None:
    delays = [timing.retry_delay(r) for r in range(12)]
    assert delays == sorted(delays)
    assert delays[1] == 2 * delays[0]
    assert max(delays) == timing.RETRY_MAX


def test_configure_uses_kubefoundry_names_and_instance_names_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(instance.INSTANCE_ENV, raising=False)
    settings = kopf.OperatorSettings()
    instance.configure(settings)
    assert settings.persistence.finalizer == "kubefoundry.io/finalizer"
    assert settings.persistence.progress_storage.prefix == "kubefoundry.io"  # type: ignore[attr-defined]
    assert instance.instance_labels() == {}

    monkeypatch.setenv(instance.INSTANCE_ENV, "dev-1")
    instance.configure(settings)
    # kopf strips its finalizer from objects none of its handlers needs: instances must not share one.
    assert settings.persistence.finalizer == "kubefoundry.io/finalizer-dev-1"
    assert settings.persistence.diffbase_storage.prefix == "dev-1.kubefoundry.io"  # type: ignore[attr-defined]
    assert instance.instance_labels() == {instance.INSTANCE_LABEL: "dev-1"}


def test_an_operator_handles_only_the_objects_of_its_own_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = {"metadata": {"labels": {instance.INSTANCE_LABEL: "dev-1"}}}
    unlabelled: dict[str, object] = {"metadata": {"name": "x"}}
    monkeypatch.delenv(instance.INSTANCE_ENV, raising=False)
    assert instance.handles(unlabelled) and not instance.handles(mine)
    monkeypatch.setenv(instance.INSTANCE_ENV, "dev-1")
    assert instance.handles(mine) and not instance.handles(unlabelled)
    monkeypatch.setenv(instance.INSTANCE_ENV, "dev-2")
    assert not instance.handles(mine)
