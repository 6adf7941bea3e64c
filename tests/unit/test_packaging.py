"""The wheel ships every sub-package: setuptools only includes the ones pyproject lists."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        # Python packages, and data folders shipped as package data.
        for path in (REPO / folder).rglob("*"):
            if path.name == "__init__.py" or path.suffix in (".yaml", ".json"):
                relative = path.parent.relative_to(REPO / folder).parts
                if "__pycache__" not in relative:
                    found.add(".".join((package, *relative)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"
