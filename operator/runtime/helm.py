"""The real `helm` CLI, run as an argument list, and the one place its commands are built.

Planning is pure: `plan()` turns a provider's install facts (`Provider.install_spec()`) and a
ProviderInstall spec into `ChartStep`s, and `upgrade_args()` / `uninstall_args()` turn a step into
helm's arguments. The operator executes exactly those arguments; `commands_for()` renders the same
arguments as shell text for people. Both sides go through `upgrade_args()`, so what users are shown
cannot drift from what runs.

Running is `asyncio.create_subprocess_exec` (never a shell) with a timeout; the binary is
$KUBEFOUNDRY_HELM or `helm` on PATH; `--kubeconfig` is passed when the operator itself uses a
kubeconfig ($KUBEFOUNDRY_KUBECONFIG or $KUBECONFIG) and left out in a pod (helm then uses the
in-cluster service account, like the operator).

Stuck releases (see `ReleaseState`): a `pending-*` or `uninstalling` release means another helm
operation is in progress, so nothing new is started; a `failed` release is retried by the caller,
with backoff, and each attempt is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from ..models.providerinstall import ProviderInstallSpec
from ..providers.base import HelmChart, Provider

log = logging.getLogger(__name__)

HELM_ENV = "KUBEFOUNDRY_HELM"
KUBECONFIG_ENV = "KUBEFOUNDRY_KUBECONFIG"
TIMEOUT_ENV = "KUBEFOUNDRY_HELM_TIMEOUT_SECONDS"
LOCAL_CHART_ROOTS_ENV = "KUBEFOUNDRY_LOCAL_CHART_ROOTS"

DEFAULT_TIMEOUT = 300.0
# helm's own --timeout (hooks, individual Kubernetes operations) stays below ours, so helm normally
# finishes by itself and records the outcome instead of being killed mid-operation.
HELM_OPERATION_TIMEOUT = "4m0s"
HISTORY_MAX = "10"
TERMINATE_GRACE = 10.0
MAX_MESSAGE = 4000


# --- errors and results ---------------------------------------------------------------------------


class HelmError(Exception):
    """helm could not be run, or exited non-zero. `message` is helm's own message."""

    def __init__(self, message: str, *, argv: Sequence[str] = (), returncode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.argv = list(argv)
        self.returncode = returncode


class HelmNotFound(HelmError):
    """No helm binary ($KUBEFOUNDRY_HELM or PATH)."""


class HelmTimeout(HelmError):
    """helm did not finish in time and was stopped."""


class ChartSourceError(ValueError):
    """The spec's chart source is not allowed here (a local path outside the allowed roots, ...)."""


@dataclass(frozen=True)
class HelmResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def message(self) -> str:
        """helm's own words: stderr when it failed, else stdout without the chart's NOTES."""
        text = self.stderr if not self.ok else self.stdout
        if self.ok:
            text = text.split("\nNOTES:", 1)[0]
        text = text.strip() or (self.stdout if not self.ok else self.stderr).strip()
        return trim(text)


def trim(text: str, limit: int = MAX_MESSAGE) -> str:
    """At most `limit` characters: helm's errors say what failed first and why last, so both ends stay."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = (limit - 5) // 2
    tail = limit - 5 - head
    return f"{text[:head]} […] {text[-tail:]}"


# --- configuration from the environment -------------------------------------------------------------


def helm_binary() -> str | None:
    explicit = os.environ.get(HELM_ENV)
    if explicit:
        return explicit
    return shutil.which("helm")


def kubeconfig_path() -> str | None:
    """The kubeconfig the operator uses, for --kubeconfig; None in a pod (in-cluster config)."""
    explicit = os.environ.get(KUBECONFIG_ENV) or os.environ.get("KUBECONFIG")
    if explicit:
        paths = [p for p in explicit.split(os.pathsep) if p]
        # helm's --kubeconfig takes one file; with a list, helm reads $KUBECONFIG itself (inherited).
        return paths[0] if len(paths) == 1 else None
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def default_timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, "") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT


def local_chart_roots() -> list[Path]:
    """Directories under which a ProviderInstall may name a local chart directory ($KUBEFOUNDRY_LOCAL_CHART_ROOTS)."""
    raw = os.environ.get(LOCAL_CHART_ROOTS_ENV, "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p.strip() and os.path.isabs(p.strip())]


def global_args() -> list[str]:
    path = kubeconfig_path()
    return ["--kubeconfig", path] if path else []


# --- pure planning ----------------------------------------------------------------------------------

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """A sort key following SemVer precedence (a pre-release sorts before its release)."""
    m = _SEMVER.match(version.strip())
    if not m:
        raise ValueError(f"not a version: {version!r}")
    major, minor, patch, pre = m.groups()
    pre_key: tuple[tuple[int, int | str], ...] = ()
    if pre:
        pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre_key)


def version_before(version: str, bound: str) -> bool:
    return version_key(version) < version_key(bound)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's own rule: maps merge key by key, anything else in `override` replaces."""
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class ChartStep:
    """One `helm upgrade --install`, fully resolved."""

    chart: str
    release: str
    namespace: str
    version: str
    chart_ref: str  # helm's CHART argument: name (with --repo), oci://…/chart, or a local path
    repo: str | None  # --repo URL (https repositories only)
    values: dict[str, Any] = field(default_factory=dict)
    create_namespace: bool = True

    @property
    def values_file_name(self) -> str:
        return f"{self.release}-values.yaml"


def effective_version(provider: Provider, spec: ProviderInstallSpec) -> str:
    return spec.version or provider.install_spec().default_version


def effective_namespace(provider: Provider, spec: ProviderInstallSpec) -> str:
    return spec.namespace or provider.install_spec().namespace


def chart_namespace(provider: Provider, spec: ProviderInstallSpec, chart: HelmChart) -> str:
    """Charts that go into the provider's namespace follow spec.namespace; others keep their own."""
    if chart.namespace == provider.install_spec().namespace:
        return effective_namespace(provider, spec)
    return chart.namespace


def charts_needed(provider: Provider, version: str) -> list[HelmChart]:
    """The charts a version needs, in install order (Dynamo: dynamo-crds only before 1.0.0)."""
    return [
        c for c in provider.install_spec().charts if c.only_before is None or version_before(version, c.only_before)
    ]


def all_charts(provider: Provider) -> list[HelmChart]:
    """Every chart the provider may have installed at any version (what uninstall looks for)."""
    return list(provider.install_spec().charts)


def check_local_path(path: str, roots: Sequence[Path]) -> Path:
    """The resolved path, if it lies under one of `roots` (symlinks resolved first)."""
    resolved = Path(path).resolve()
    for root in roots:
        if resolved == root or root in resolved.parents:
            return resolved
    allowed = ", ".join(str(r) for r in roots) or f"none (${LOCAL_CHART_ROOTS_ENV} is not set)"
    raise ChartSourceError(
        f"local chart path {path} is not under a directory the operator allows for local charts (allowed: {allowed})"
    )


def local_chart_ref(directory: Path, chart: str, version: str) -> Path:
    """`<dir>/<chart>-<version>.tgz` when present (what `helm pull`/`helm package` write), else `<dir>/<chart>`."""
    archive = directory / f"{chart}-{version.removeprefix('v')}.tgz"
    if archive.exists():
        return archive
    archive_v = directory / f"{chart}-{version}.tgz"
    if archive_v.exists():
        return archive_v
    return directory / chart


def chart_location(
    provider: Provider,
    spec: ProviderInstallSpec,
    chart: HelmChart,
    version: str,
    *,
    local_roots: Sequence[Path] | None,
) -> tuple[str, str | None]:
    """(CHART argument, --repo URL or None) for one chart.

    `local_roots=None` skips the local-path restriction (rendering commands for people); the operator
    always passes `local_chart_roots()`.
    """
    source = spec.chartSource
    if source is None:
        base = chart.repository
        if base.startswith("oci://"):
            return f"{base.rstrip('/')}/{chart.chart}", None
        return chart.chart, base
    if source.repository is not None:
        return chart.chart, source.repository
    if source.oci is not None:
        return f"{source.oci.rstrip('/')}/{chart.chart}", None
    assert source.localPath is not None  # the model allows exactly one source
    directory = Path(source.localPath)
    if local_roots is not None:
        directory = check_local_path(source.localPath, local_roots)
    ref = local_chart_ref(directory, chart.chart, version)
    if local_roots is not None:
        ref = check_local_path(str(ref), local_roots)  # a symlinked chart must not lead outside either
        if not ref.exists():
            raise ChartSourceError(
                f"neither {directory / f'{chart.chart}-{version}.tgz'} nor the directory {directory / chart.chart} "
                "exists"
            )
    return str(ref), None


def plan(provider: Provider, spec: ProviderInstallSpec, *, local_roots: Sequence[Path] | None) -> list[ChartStep]:
    """Every `helm upgrade --install` a spec needs, in order."""
    install = provider.install_spec()
    version = effective_version(provider, spec)
    steps: list[ChartStep] = []
    for chart in charts_needed(provider, version):
        namespace = chart_namespace(provider, spec, chart)
        values = dict(chart.values)
        if chart.namespace == install.namespace:
            values = deep_merge(values, spec.values)
        ref, repo = chart_location(provider, spec, chart, version, local_roots=local_roots)
        steps.append(
            ChartStep(
                chart=chart.chart,
                release=chart.release,
                namespace=namespace,
                version=version,
                chart_ref=ref,
                repo=repo,
                values=values,
                create_namespace=chart.create_namespace,
            )
        )
    return steps


def upgrade_args(step: ChartStep, values_file: str | None) -> list[str]:
    """helm's arguments (after the binary and global flags) for one step.

    --reset-values: the values are the spec's whole intent; without it helm reuses the previous
    release's values whenever none are passed. --wait=false: the operator's Deployment becoming
    Available is observed afterwards, not waited for while holding the release in pending-*.
    """
    args = ["upgrade", "--install", step.release, step.chart_ref]
    if step.repo:
        args += ["--repo", step.repo]
    if not _is_local(step.chart_ref):
        args += ["--version", step.version]
    args += ["--namespace", step.namespace]
    if step.create_namespace:
        args.append("--create-namespace")
    if values_file is not None:
        args += ["--values", values_file]
    args += [
        "--reset-values",
        "--wait=false",
        "--timeout", HELM_OPERATION_TIMEOUT,
        "--history-max", HISTORY_MAX,
    ]  # fmt: skip
    return args


def uninstall_args(release: str, namespace: str) -> list[str]:
    return ["uninstall", release, "--namespace", namespace, "--timeout", HELM_OPERATION_TIMEOUT]


def _is_local(chart_ref: str) -> bool:
    return chart_ref.startswith("/")


def values_yaml(values: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(values), sort_keys=True, default_flow_style=False)


def commands_for(provider: Provider, spec: ProviderInstallSpec) -> list[str]:
    """The commands a person would run to do what the operator does for `spec`, as shell text."""
    commands: list[str] = []
    for step in plan(provider, spec, local_roots=None):
        values_file = None
        if step.values:
            values_file = step.values_file_name
            commands.append(f"cat > {shlex.quote(values_file)} <<'EOF'\n{values_yaml(step.values)}EOF")
        commands.append(shlex.join(["helm", *upgrade_args(step, values_file)]))
    return commands


def uninstall_commands_for(provider: Provider, spec: ProviderInstallSpec) -> list[str]:
    return [
        shlex.join(["helm", *uninstall_args(c.release, chart_namespace(provider, spec, c))])
        for c in reversed(all_charts(provider))
    ]


# --- releases -----------------------------------------------------------------------------------------


class ReleaseState(StrEnum):
    """What a release's status means for the operator."""

    ABSENT = "absent"  # install
    DEPLOYED = "deployed"  # upgrade
    IN_PROGRESS = "in-progress"  # pending-install/-upgrade/-rollback, uninstalling: wait, start nothing
    FAILED = "failed"  # the last operation failed: retried (upgrade --install), with backoff, reported


IN_PROGRESS_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback", "uninstalling"})


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    updated: str

    @property
    def state(self) -> ReleaseState:
        if self.status in IN_PROGRESS_STATUSES:
            return ReleaseState.IN_PROGRESS
        if self.status == "failed":
            return ReleaseState.FAILED
        if self.status in ("uninstalled", "superseded", "unknown", ""):
            return ReleaseState.ABSENT
        return ReleaseState.DEPLOYED

    def age_seconds(self, now: datetime | None = None) -> float | None:
        updated = parse_helm_time(self.updated)
        if updated is None:
            return None
        return ((now or datetime.now(UTC)) - updated).total_seconds()

    @classmethod
    def from_list_item(cls, item: Mapping[str, Any]) -> Release:
        try:
            revision = int(item.get("revision") or 0)
        except (TypeError, ValueError):
            revision = 0
        return cls(
            name=str(item.get("name") or ""),
            namespace=str(item.get("namespace") or ""),
            revision=revision,
            status=str(item.get("status") or ""),
            chart=str(item.get("chart") or ""),
            app_version=str(item.get("app_version") or ""),
            updated=str(item.get("updated") or ""),
        )


_HELM_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.\d+)? \+0000 UTC$")


def parse_helm_time(text: str) -> datetime | None:
    """`helm list -o json` writes times like `2026-11-26 16:42:11.438611621 +0000 UTC`."""
    m = _HELM_TIME.match(text.strip())
    if m:
        return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00")
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


# --- running helm -----------------------------------------------------------------------------------


async def run(args: Sequence[str], *, timeout: float | None = None, check: bool = False) -> HelmResult:
    """Runs helm with `args` (global flags added) and returns what it said; never through a shell."""
    binary = helm_binary()
    if not binary:
        raise HelmNotFound(f"helm not found: set ${HELM_ENV} or put helm on PATH")
    argv = [binary, *global_args(), *args]
    limit = timeout if timeout is not None else default_timeout()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # our signals go to helm only, not to the operator's group
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise HelmNotFound(f"cannot run helm at {binary}: {exc}", argv=argv) from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=limit)
    except TimeoutError:
        await _stop(proc)
        raise HelmTimeout(
            f"helm did not finish within {limit:.0f}s and was stopped: {shlex.join(['helm', *args])}", argv=argv
        ) from None
    except asyncio.CancelledError:
        await asyncio.shield(_stop(proc))
        raise
    result = HelmResult(argv, proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
    log.debug("helm %s -> %s", shlex.join(list(args)), result.returncode)
    if check and not result.ok:
        raise HelmError(result.message, argv=argv, returncode=result.returncode)
    return result


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM first: helm then cancels its work and records the release as failed, not pending-*."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=TERMINATE_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def version() -> str:
    """helm's version, for example v3.19.0."""
    result = await run(["version", "--template", "{{.Version}}"], timeout=30, check=True)
    return result.stdout.strip()


async def status(release: str, namespace: str) -> dict[str, Any] | None:
    """`helm status -o json`, or None when there is no such release."""
    result = await run(["status", release, "--namespace", namespace, "--output", "json"], timeout=60)
    if not result.ok:
        if "not found" in result.stderr:
            return None
        raise HelmError(result.message, argv=result.argv, returncode=result.returncode)
    data = json.loads(result.stdout or "{}")
    return data if isinstance(data, dict) else None


async def list_releases(namespace: str | None = None, *, name: str | None = None) -> list[Release]:
    """Every release in any state (`--all`), in one namespace or all of them; optionally one name."""
    args = ["list", "--all", "--output", "json", "--max", "0"]
    args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
    if name:
        # Release names are DNS-1123 names: `.` is their only regular-expression metacharacter.
        args += ["--filter", "^" + name.replace(".", "\\.") + "$"]
    result = await run(args, timeout=60, check=True)
    items = json.loads(result.stdout or "[]") or []
    return [Release.from_list_item(i) for i in items if isinstance(i, dict)]


async def find_release(release: str, namespace: str) -> Release | None:
    matches = [r for r in await list_releases(namespace, name=release) if r.name == release]
    return matches[0] if matches else None


async def upgrade_install(step: ChartStep, *, timeout: float | None = None) -> HelmResult:
    """`helm upgrade --install` of one step; values go through a private temporary file."""
    with tempfile.TemporaryDirectory(prefix="kubefoundry-helm-") as tmp:
        values_file = None
        if step.values:
            path = Path(tmp) / step.values_file_name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(values_yaml(step.values))
            values_file = str(path)
        return await run(upgrade_args(step, values_file), timeout=timeout)


async def uninstall(release: str, namespace: str, *, timeout: float | None = None) -> HelmResult:
    return await run(uninstall_args(release, namespace), timeout=timeout)


async def manifest(release: str, namespace: str) -> str:
    result = await run(["get", "manifest", release, "--namespace", namespace], timeout=60, check=True)
    return result.stdout


def show_crds_args(step: ChartStep) -> list[str]:
    args = ["show", "crds", step.chart_ref]
    if step.repo:
        args += ["--repo", step.repo]
    if not _is_local(step.chart_ref):
        args += ["--version", step.version]
    return args


async def chart_crd_names(step: ChartStep) -> list[str]:
    """Names of the CRDs in a chart's crds/ folders (helm show crds)."""
    result = await run(show_crds_args(step), timeout=120, check=True)
    return [name for kind, name in manifest_kinds(result.stdout) if kind == "CustomResourceDefinition" and name]


def manifest_kinds(text: str) -> list[tuple[str, str]]:
    """(kind, name) of every object in a rendered manifest."""
    out: list[tuple[str, str]] = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind"):
            out.append((str(doc["kind"]), str((doc.get("metadata") or {}).get("name") or "")))
    return out
