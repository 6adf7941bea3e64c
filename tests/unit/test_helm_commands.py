"""Helm planning and running: which charts, from where, with which arguments; shown == executed.

The executed side runs through a fake `helm` executable that records its argv (and the values file
it was given), so the comparison with `commands_for` covers the real subprocess path.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kubefoundry.operator.models.providerinstall import ProviderInstallSpec
from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.providers.dynamo import DYNAMO_VERSION, HELM_REGISTRY, PLATFORM_NAMESPACE
from kubefoundry.operator.runtime import helm

DYNAMO = get_provider("dynamo")


def spec(**fields: Any) -> ProviderInstallSpec:
    return ProviderInstallSpec.model_validate({"provider": "dynamo", **fields})


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `helm` that records argv and the content and mode of its --values file, then prints a line."""
    record = tmp_path / "calls.jsonl"
    script = tmp_path / "helm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "values = None\n"
        "if '--values' in args:\n"
        "    path = args[args.index('--values') + 1]\n"
        "    values = {'path': path, 'text': open(path).read(), 'mode': os.stat(path).st_mode & 0o777}\n"
        f"with open({str(record)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': args, 'values': values}) + '\\n')\n"
        "if os.environ.get('FAKE_HELM_SLEEP'):\n"
        "    import time; time.sleep(float(os.environ['FAKE_HELM_SLEEP']))\n"
        "if os.environ.get('FAKE_HELM_FAIL'):\n"
        "    sys.stderr.write(os.environ['FAKE_HELM_FAIL']); sys.exit(1)\n"
        "print('Release \"x\" has been upgraded. Happy Helming!\\nSTATUS: deployed\\n\\nNOTES:\\nsecret notes')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(helm.HELM_ENV, str(script))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv(helm.KUBECONFIG_ENV, raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # in a pod: no --kubeconfig
    return record


def exists(path: str) -> bool:
    return Path(path).exists()


def calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


# --- which charts -------------------------------------------------------------------------------------


def test_default_spec_installs_the_platform_chart_from_ngc_into_the_providers_namespace() -> None:
    [step] = helm.plan(DYNAMO, spec(), local_roots=[])
    assert step.release == "dynamo-platform"
    assert step.chart_ref == f"{HELM_REGISTRY}/dynamo-platform"
    assert step.chart_ref.startswith("oci://")
    assert step.repo is None
    assert step.version == DYNAMO_VERSION
    assert step.namespace == PLATFORM_NAMESPACE
    assert step.create_namespace


def test_versions_before_1_0_also_install_dynamo_crds_first_into_default() -> None:
    steps = helm.plan(DYNAMO, spec(version="0.9.1"), local_roots=[])
    assert [s.chart for s in steps] == ["dynamo-crds", "dynamo-platform"]
    crds = steps[0]
    assert crds.namespace == "default"
    assert not crds.create_namespace
    assert crds.version == "0.9.1"
    assert "--create-namespace" not in helm.upgrade_args(crds, None)


@pytest.mark.parametrize(
    ("version", "charts"),
    [
        ("1.0.0", 1),
        ("1.0.0-rc1", 2),  # a pre-release of 1.0.0 comes before 1.0.0
        ("0.9.0-post1", 2),
        ("v1.2.1", 1),
        ("0.6.0", 2),
    ],
)
def test_dynamo_crds_only_before_1_0(version: str, charts: int) -> None:
    assert len(helm.plan(DYNAMO, spec(version=version), local_roots=[])) == charts


def test_target_namespace_moves_the_platform_but_not_the_crds_chart() -> None:
    steps = helm.plan(DYNAMO, spec(version="0.9.1", namespace="my-dynamo"), local_roots=[])
    assert {s.chart: s.namespace for s in steps} == {"dynamo-crds": "default", "dynamo-platform": "my-dynamo"}


def test_values_go_to_the_platform_chart_only() -> None:
    values = {"dynamo-operator": {"controllerManager": {"manager": {"image": {"tag": "x"}}}}}
    steps = helm.plan(DYNAMO, spec(version="0.9.1", values=values), local_roots=[])
    assert {s.chart: s.values for s in steps} == {"dynamo-crds": {}, "dynamo-platform": values}


# --- chart sources ------------------------------------------------------------------------------------


def test_https_repository_uses_repo_flag_and_chart_name() -> None:
    [step] = helm.plan(DYNAMO, spec(chartSource={"repository": "https://charts.example.com/dynamo"}), local_roots=[])
    args = helm.upgrade_args(step, None)
    assert args[:4] == ["upgrade", "--install", "dynamo-platform", "dynamo-platform"]
    assert args[args.index("--repo") + 1] == "https://charts.example.com/dynamo"
    assert args[args.index("--version") + 1] == DYNAMO_VERSION


def test_oci_reference_gets_the_chart_name_appended() -> None:
    [step] = helm.plan(DYNAMO, spec(chartSource={"oci": "oci://registry.local/mirror/charts/"}), local_roots=[])
    assert step.chart_ref == "oci://registry.local/mirror/charts/dynamo-platform"
    assert "--repo" not in helm.upgrade_args(step, None)


@pytest.mark.parametrize(
    "source",
    [
        {"repository": "http://charts.example.com"},
        {"repository": "file:///etc"},
        {"oci": "https://registry.local/x"},
        {"localPath": "relative/path"},
        {"repository": "https://a.example.com", "oci": "oci://b.example.com/x"},
        {},
        {"repository": "https://a.example.com/ --post-renderer x"},
    ],
)
def test_chart_sources_that_are_refused(source: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        spec(chartSource=source)


def test_local_directory_prefers_the_versioned_archive(tmp_path: Path) -> None:
    (tmp_path / "dynamo-platform").mkdir()
    (tmp_path / "dynamo-platform-1.0.0.tgz").write_bytes(b"")
    s = spec(version="1.0.0", chartSource={"localPath": str(tmp_path)})
    [step] = helm.plan(DYNAMO, s, local_roots=[tmp_path])
    assert step.chart_ref == str(tmp_path.resolve() / "dynamo-platform-1.0.0.tgz")
    # helm ignores --version for local charts; the archive's name carries it.
    assert "--version" not in helm.upgrade_args(step, None)
    [other] = helm.plan(DYNAMO, spec(version="1.0.1", chartSource={"localPath": str(tmp_path)}), local_roots=[tmp_path])
    assert other.chart_ref == str(tmp_path.resolve() / "dynamo-platform")


def test_local_directory_outside_the_allowed_roots_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "dynamo-platform").mkdir(parents=True)
    with pytest.raises(helm.ChartSourceError, match="not under a directory the operator allows"):
        helm.plan(DYNAMO, spec(chartSource={"localPath": "/etc"}), local_roots=[allowed])
    with pytest.raises(helm.ChartSourceError, match=r"allowed: none"):
        helm.plan(DYNAMO, spec(chartSource={"localPath": str(allowed)}), local_roots=[])
    # `..` and symlinks are resolved before the check.
    with pytest.raises(helm.ChartSourceError):
        helm.plan(DYNAMO, spec(chartSource={"localPath": f"{allowed}/../.."}), local_roots=[allowed])
    escape = tmp_path / "escape"
    escape.mkdir()
    (escape / "dynamo-platform").symlink_to("/etc")
    with pytest.raises(helm.ChartSourceError):
        helm.plan(DYNAMO, spec(chartSource={"localPath": str(escape)}), local_roots=[escape])
    assert helm.plan(DYNAMO, spec(chartSource={"localPath": str(allowed)}), local_roots=[allowed])


def test_local_chart_roots_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(helm.LOCAL_CHART_ROOTS_ENV, f"{tmp_path}{os.pathsep}relative{os.pathsep}")
    assert helm.local_chart_roots() == [tmp_path.resolve()]
    monkeypatch.delenv(helm.LOCAL_CHART_ROOTS_ENV)
    assert helm.local_chart_roots() == []


# --- shown == executed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"version": "0.9.1", "namespace": "dyn"},
        {"chartSource": {"repository": "https://charts.example.com/x"}, "values": {"a": {"b": [1, "two"]}}},
        {"chartSource": {"oci": "oci://mirror.local/charts"}, "values": {"image": 'it\'s "quoted" $HOME'}},
    ],
)
async def test_commands_shown_are_the_commands_run(fake_helm: Path, fields: dict[str, Any]) -> None:
    s = spec(**fields)
    for step in helm.plan(DYNAMO, s, local_roots=[]):
        result = await helm.upgrade_install(step)
        assert result.ok
    executed = calls(fake_helm)
    shown = [c for c in helm.commands_for(DYNAMO, s) if c.startswith("helm ")]
    values_docs = [c for c in helm.commands_for(DYNAMO, s) if c.startswith("cat > ")]
    assert len(executed) == len(shown)
    for call, command in zip(executed, shown, strict=True):
        binary, *argv = shlex.split(command)
        assert binary == "helm"
        run = list(call["argv"])
        if call["values"] is not None:
            # The only difference: the executed values file is a private temporary file.
            i = run.index("--values")
            assert argv[i + 1].endswith("-values.yaml")
            run[i + 1] = argv[i + 1]
            assert call["values"]["mode"] == 0o600
            assert not exists(call["values"]["path"])  # removed afterwards
            heredoc = next(d for d in values_docs if d.startswith(f"cat > {argv[i + 1]} "))
            assert heredoc.split("\n", 1)[1].removesuffix("EOF") == call["values"]["text"]
            assert yaml.safe_load(call["values"]["text"]) == s.values
        assert run == argv


async def test_helm_gets_the_operators_kubeconfig(fake_helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/test.yaml")
    await helm.run(["version"])
    monkeypatch.delenv("KUBECONFIG")
    await helm.run(["version"])  # in a pod (KUBERNETES_SERVICE_HOST set by the fixture): in-cluster config
    first, second = calls(fake_helm)
    assert first["argv"][:2] == ["--kubeconfig", "/home/me/.kube/test.yaml"]
    assert "--kubeconfig" not in second["argv"]


def test_upgrade_resets_values_and_does_not_wait() -> None:
    [step] = helm.plan(DYNAMO, spec(), local_roots=[])
    args = helm.upgrade_args(step, None)
    assert "--reset-values" in args  # otherwise helm reuses the previous values when none are given
    assert "--wait=false" in args
    assert "--timeout" in args


def test_uninstall_commands_cover_every_chart_in_reverse() -> None:
    commands = helm.uninstall_commands_for(DYNAMO, spec(namespace="dyn"))
    assert commands == [
        "helm uninstall dynamo-platform --namespace dyn --timeout 4m0s",
        "helm uninstall dynamo-crds --namespace default --timeout 4m0s",
    ]


# --- running -----------------------------------------------------------------------------------------


async def test_failure_returns_helms_own_message(fake_helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HELM_FAIL", "Error: INSTALLATION FAILED: values don't meet the specifications\n")
    [step] = helm.plan(DYNAMO, spec(), local_roots=[])
    result = await helm.upgrade_install(step)
    assert not result.ok
    assert result.message == "Error: INSTALLATION FAILED: values don't meet the specifications"
    with pytest.raises(helm.HelmError, match="values don't meet"):
        await helm.run(["upgrade"], check=True)


async def test_success_message_leaves_out_the_charts_notes(fake_helm: Path) -> None:
    [step] = helm.plan(DYNAMO, spec(), local_roots=[])
    result = await helm.upgrade_install(step)
    assert "STATUS: deployed" in result.message
    assert "secret notes" not in result.message


async def test_a_helm_that_hangs_is_stopped(fake_helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HELM_SLEEP", "30")
    started = asyncio.get_running_loop().time()
    with pytest.raises(helm.HelmTimeout, match="did not finish within"):
        await helm.run(["upgrade"], timeout=0.5)
    assert asyncio.get_running_loop().time() - started < 15


async def test_missing_helm_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(helm.HELM_ENV, str(tmp_path / "no-helm"))
    with pytest.raises(helm.HelmNotFound):
        await helm.version()


def test_long_messages_keep_both_ends() -> None:
    text = "Error: UPGRADE FAILED: cannot patch " + "x" * 10_000 + " quantities must match"
    trimmed = helm.trim(text, 200)
    assert len(trimmed) == 200
    assert trimmed.startswith("Error: UPGRADE FAILED")
    assert trimmed.endswith("quantities must match")


# --- releases -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("deployed", helm.ReleaseState.DEPLOYED),
        ("pending-install", helm.ReleaseState.IN_PROGRESS),
        ("pending-upgrade", helm.ReleaseState.IN_PROGRESS),
        ("pending-rollback", helm.ReleaseState.IN_PROGRESS),
        ("uninstalling", helm.ReleaseState.IN_PROGRESS),
        ("failed", helm.ReleaseState.FAILED),
        ("uninstalled", helm.ReleaseState.ABSENT),
    ],
)
def test_release_states(status: str, state: helm.ReleaseState) -> None:
    item = {"name": "r", "namespace": "n", "revision": "3", "status": status, "updated": ""}
    assert helm.Release.from_list_item(item).state == state


def test_helm_list_times_are_parsed() -> None:
    parsed = helm.parse_helm_time("2026-11-26 16:42:11.438611621 +0000 UTC")
    assert parsed is not None and parsed.isoformat() == "2026-11-26T16:42:11+00:00"
    assert helm.parse_helm_time("garbage") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("0.9.1", "1.0.0"),
        ("1.0.0-rc1", "1.0.0"),
        ("1.0.0-rc.2", "1.0.0-rc.10"),
        ("1.9.9", "1.10.0"),
        ("v1.0.0", "1.0.1"),
    ],
)
def test_version_order(a: str, b: str) -> None:
    assert helm.version_before(a, b)
    assert not helm.version_before(b, a)
