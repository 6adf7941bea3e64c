"""Assembles the local stand-in `dynamo-platform` chart for development and tests.

The chart's source is `deploy/local/charts/dynamo-platform/` (our own small chart, not NVIDIA's).
Its `crds/` folder is filled here, at dev/test time, with the real Dynamo CRDs from
`../shared/crds/dynamo/` ($KUBEFOUNDRY_PROVIDER_CRDS/dynamo): they are never committed.

The result is a local chart directory in the layout a ProviderInstall's `chartSource.localPath`
expects: `<dest>/dynamo-platform-<version>.tgz` for every requested version (the archive name
`helm package` and `helm pull` write) plus the unpacked `<dest>/dynamo-platform/` of the first one.

    python -m kubefoundry.simulator.localchart assemble [--dest DIR] [--version V ...]
    python -m kubefoundry.simulator.localchart manifest [--dest DIR] [--version V] [--namespace NS]

`manifest` assembles too, then prints a ProviderInstall that installs from DIR; the operator must
allow DIR (KUBEFOUNDRY_LOCAL_CHART_ROOTS=DIR).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from kubefoundry.operator.models.common import API_VERSION
from kubefoundry.operator.models.providerinstall import KIND
from kubefoundry.operator.providers.dynamo import DYNAMO_VERSION

REPO = Path(__file__).resolve().parent.parent
CHART_NAME = "dynamo-platform"
CHART_SOURCE = REPO / "deploy" / "local" / "charts" / CHART_NAME
SKIPPED = {".gitignore", ".gitkeep", ".helmignore", "README.md"}


def default_dest() -> Path:
    cache = Path(os.environ.get("KUBEFOUNDRY_CACHE") or Path.home() / ".cache" / "kubefoundry")
    return cache / "charts"


def provider_crds_dir() -> Path:
    root = Path(os.environ.get("KUBEFOUNDRY_PROVIDER_CRDS") or REPO.parent / "shared" / "crds")
    return root / "dynamo"


def _chart_files(source: Path, crds: Path, version: str) -> dict[str, bytes]:
    """Relative path -> content of the chart at `version` (Chart.yaml rewritten, CRDs copied in)."""
    files: dict[str, bytes] = {}
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or rel.name in SKIPPED or (rel.parts[0] == "crds"):
            continue
        files[rel.as_posix()] = path.read_bytes()
    chart = yaml.safe_load(files["Chart.yaml"])
    chart["version"] = version.removeprefix("v")
    chart["appVersion"] = version.removeprefix("v")
    files["Chart.yaml"] = (
        "# STAND-IN chart assembled by kubefoundry.simulator.localchart; not NVIDIA's dynamo-platform.\n"
        + yaml.safe_dump(chart, sort_keys=False)
    ).encode()
    crd_files = sorted(p for p in crds.glob("*.yaml") if p.is_file())
    if not crd_files:
        raise FileNotFoundError(f"no Dynamo CRDs in {crds} (set KUBEFOUNDRY_PROVIDER_CRDS)")
    for crd in crd_files:
        files[f"crds/{crd.name}"] = crd.read_bytes()
    return files


def _write_archive(files: dict[str, bytes], path: Path) -> None:
    tmp = path.with_suffix(".tgz.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{CHART_NAME}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)


def assemble(
    dest: Path | None = None,
    versions: Sequence[str] = (DYNAMO_VERSION,),
    *,
    source: Path = CHART_SOURCE,
    crds: Path | None = None,
) -> Path:
    """Writes the stand-in chart into `dest` (one archive per version, the first version unpacked too)."""
    dest = (dest or default_dest()).resolve()
    crds = crds or provider_crds_dir()
    if not versions:
        raise ValueError("at least one version")
    dest.mkdir(parents=True, exist_ok=True)
    for version in versions:
        _write_archive(_chart_files(source, crds, version), dest / f"{CHART_NAME}-{version.removeprefix('v')}.tgz")
    unpacked = dest / CHART_NAME
    staging = Path(tempfile.mkdtemp(prefix=f".{CHART_NAME}-", dir=dest))
    for rel, data in _chart_files(source, crds, versions[0]).items():
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if unpacked.exists():
        shutil.rmtree(unpacked)
    staging.rename(unpacked)
    return dest


def provider_install_manifest(
    dest: Path, version: str | None = None, namespace: str | None = None
) -> dict[str, object]:
    spec: dict[str, object] = {"provider": "dynamo", "chartSource": {"localPath": str(dest)}}
    if version:
        spec["version"] = version
    if namespace:
        spec["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "dynamo"}, "spec": spec}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubefoundry.simulator.localchart", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("assemble", "manifest"):
        p = sub.add_parser(name)
        p.add_argument("--dest", type=Path, default=None, help=f"output directory (default: {default_dest()})")
        p.add_argument("--version", action="append", default=[], help=f"chart version (default: {DYNAMO_VERSION})")
        if name == "manifest":
            p.add_argument("--namespace", default=None, help="target namespace (default: the provider's)")
    args = parser.parse_args(argv)
    versions = args.version or [DYNAMO_VERSION]
    dest = assemble(args.dest, versions)
    if args.command == "assemble":
        print(dest)
    else:
        manifest = provider_install_manifest(dest, args.version[0] if args.version else None, args.namespace)
        sys.stdout.write(yaml.safe_dump(manifest, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
