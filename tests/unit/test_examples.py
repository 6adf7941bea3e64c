"""The example resources in deploy/examples are valid KubeFoundryDeployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefoundry.operator.models.deployment import KIND, MAX_NAME_LENGTH, KubeFoundryDeploymentSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def deployments() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == KIND:
                found.append((f"{path.name}:{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("where", "doc"), deployments(), ids=[w for w, _ in deployments()])
def test_example_is_a_valid_deployment(where: str, doc: dict[str, Any]) -> None:
    KubeFoundryDeploymentSpec.model_validate(doc["spec"])
    assert len(doc["metadata"]["name"]) <= MAX_NAME_LENGTH, where


def test_there_are_examples() -> None:
    assert len(deployments()) >= 3
