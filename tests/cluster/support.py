"""Helpers shared by the cluster tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from harness import SESSION_INSTANCE, instance_label
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k

T = TypeVar("T")

DGD = k.Resource("nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 60, what: str = "condition", interval: float = 0.25
) -> T:
    """Polls `check` until it returns something truthy; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def kfd(name: str, *, instance: str | None = SESSION_INSTANCE, **spec: Any) -> dict[str, Any]:
    """A KubeFoundryDeployment for the operator of `instance`: by default the session's (conftest's
    `operator`); None for an operator started without an instance."""
    body = {"modelId": "Qwen/Qwen3-0.6B", **spec}
    return {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "KubeFoundryDeployment",
        "metadata": {"name": name, "labels": instance_label(instance)},
        "spec": body,
    }


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    conds = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == type_), {})


async def wait_for_phase(kube: k.Kube, namespace: str, name: str, phase: str, timeout: float = 90) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> dict[str, Any] | None:
        obj = await kube.get_or_none(KFD, name, namespace)
        status = (obj or {}).get("status") or {}
        last["status"] = status
        generation = (obj or {}).get("metadata", {}).get("generation")
        if status.get("phase") == phase and status.get("observedGeneration") == generation:
            return obj
        return None

    try:
        return await eventually(reached, timeout, what=f"{namespace}/{name} phase {phase}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {last.get('status')!r}") from None


async def events_for(kube: k.Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    items = (await kube.list(k.EVENTS, namespace, field_selector=f"involvedObject.name={name}"))["items"]
    return [e for e in items if e.get("involvedObject", {}).get("kind") == "KubeFoundryDeployment"]


IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1"


def vllm_agg(name: str, *, worker_gpus: str | None = "1", worker_replicas: int = 1) -> dict[str, Any]:
    """Upstream's vLLM aggregated example (notes §1.7)."""
    worker: dict[str, Any] = {
        "componentType": "worker",
        "replicas": worker_replicas,
        "envFromSecret": "hf-token-secret",
        "extraPodSpec": {
            "mainContainer": {
                "image": IMAGE,
                "workingDir": "/workspace/examples/backends/vllm",
                "command": ["python3", "-m", "dynamo.vllm"],
                "args": ["--model", "Qwen/Qwen3-0.6B", "--enforce-eager"],
            }
        },
    }
    if worker_gpus is not None:
        worker["resources"] = {"limits": {"gpu": worker_gpus}}
    return {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": name},
        "spec": {
            "backendFramework": "vllm",
            "services": {
                "Frontend": {
                    "componentType": "frontend",
                    "replicas": 1,
                    "extraPodSpec": {"mainContainer": {"image": IMAGE}},
                },
                "VllmWorker": worker,
            },
        },
    }
