"""The folders keep their promises: shared ground imports no controller, the API imports no controller,
and the product never imports the local simulation."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"operator": "kubefoundry.operator", "api": "kubefoundry.api", "simulator": "kubefoundry.simulator"}
CONTROLLERS = ("kubefoundry.operator.deployments", "kubefoundry.operator.installs")
SHARED = ("kubefoundry.operator.models", "kubefoundry.operator.providers", "kubefoundry.operator.runtime")


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, whether it is a package's __init__) of a source file."""
    rel = path.relative_to(REPO)
    parts = [PACKAGES[rel.parts[0]], *rel.with_suffix("").parts[1:]]
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def imports_of(path: Path, module: str | None = None, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module) of every import in the file, function-local ones included."""
    if module is None:
        module, is_package = module_name(path)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from pkg import submodule`
                yield node.lineno, f"{target}.{alias.name}"


def sources(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def offending(folders: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for folder in folders:
        for path in sources(folder):
            for line, target in imports_of(path):
                if any(target == f or target.startswith(f + ".") for f in forbidden):
                    found.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    return found


def test_the_api_imports_no_controller_module() -> None:
    assert offending(("api",), CONTROLLERS) == []


def test_the_api_imports_only_shared_operator_packages() -> None:
    found = []
    for path in sources("api"):
        for line, target in imports_of(path):
            if target.startswith("kubefoundry.operator") and not target.startswith(SHARED):
                # `from kubefoundry.operator import x` yields the package itself too; only x matters.
                if target != "kubefoundry.operator":
                    found.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert found == []


def test_shared_ground_imports_no_controller_module() -> None:
    folders = tuple(f"operator/{name}" for name in ("models", "providers", "runtime"))
    assert offending(folders, CONTROLLERS) == []


def test_controllers_do_not_import_each_other() -> None:
    assert offending(("operator/deployments",), ("kubefoundry.operator.installs",)) == []
    assert offending(("operator/installs",), ("kubefoundry.operator.deployments",)) == []


def test_the_product_never_imports_the_simulation() -> None:
    assert offending(("operator", "api"), ("kubefoundry.simulator",)) == []


@pytest.mark.parametrize(
    "init", sorted(str(p.relative_to(REPO)) for f in PACKAGES for p in (REPO / f).rglob("__init__.py")), ids=str
)
def test_every_folder_says_what_it_holds(init: str) -> None:
    doc = ast.get_docstring(ast.parse((REPO / init).read_text()))
    assert doc, f"{init} needs a docstring saying what the folder holds and who may import it"


def test_the_walker_resolves_relative_and_local_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ..runtime import kube\n\ndef f() -> None:\n    from ...operator.deployments import reconciler\n"
    )
    found = set(imports_of(probe, "kubefoundry.operator.api_probe.probe"))
    assert (1, "kubefoundry.operator.runtime.kube") in found
    assert (4, "kubefoundry.operator.deployments.reconciler") in found
