"""GPU accounting per node: capacity and allocatable from the node, allocated from pod requests.

A pod's effective request follows the scheduler: the larger of (app containers + restartable init
containers, i.e. sidecars) and, for each init container, its own request plus the sidecars
started before it. Extended resources cannot be overcommitted, so a limit without a request counts
as the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]

GPU_RESOURCE = "nvidia.com/gpu"
# Labels NVIDIA GPU feature discovery puts on GPU nodes.
LABEL_PRODUCT = "nvidia.com/gpu.product"
LABEL_MEMORY = "nvidia.com/gpu.memory"
LABEL_PRESENT = "nvidia.com/gpu.present"

# Pods that no longer hold resources are left out by the watch itself.
ACTIVE_POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"


def _quantity(value: Any) -> int:
    """Whole-device quantities ("2", 2); anything else (fractions, garbage) counts as 0."""
    try:
        return max(int(str(value)), 0)
    except (TypeError, ValueError):
        return 0


def _container_gpus(container: Obj) -> int:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return _quantity(requests.get(GPU_RESOURCE, limits.get(GPU_RESOURCE, 0)))


def pod_gpu_request(pod: Obj) -> int:
    spec = pod.get("spec") or {}
    app = sum(_container_gpus(c) for c in spec.get("containers") or [])
    sidecars = 0
    init_peak = 0
    for init in spec.get("initContainers") or []:
        if init.get("restartPolicy") == "Always":
            sidecars += _container_gpus(init)
        else:
            init_peak = max(init_peak, sidecars + _container_gpus(init))
    return max(app + sidecars, init_peak)


def gpu_pod_entry(pod: Obj) -> Obj | None:
    """What the GPU-pod cache keeps: only pods that request GPUs, reduced to node and count."""
    gpus = pod_gpu_request(pod)
    if gpus == 0:
        return None
    meta = pod.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "node": (pod.get("spec") or {}).get("nodeName") or "",
        "gpus": gpus,
    }


def node_entry(node: Obj) -> Obj | None:
    """What the node cache keeps: GPU nodes only (capacity or the GFD label)."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    status = node.get("status") or {}
    capacity = _quantity((status.get("capacity") or {}).get(GPU_RESOURCE, 0))
    if capacity == 0 and labels.get(LABEL_PRESENT) != "true":
        return None
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    memory = labels.get(LABEL_MEMORY)
    return {
        "metadata": {"name": meta.get("name"), "namespace": "", "resourceVersion": meta.get("resourceVersion")},
        "product": labels.get(LABEL_PRODUCT) or None,
        "memoryMiB": int(memory) if memory and memory.isdigit() else None,
        "capacity": capacity,
        "allocatable": _quantity((status.get("allocatable") or {}).get(GPU_RESOURCE, 0)),
        "ready": bool(ready and ready.get("status") == "True"),
        "schedulable": not (node.get("spec") or {}).get("unschedulable", False),
    }


def gpu_report(nodes: Iterable[Obj], gpu_pods: Iterable[Obj]) -> Obj:
    allocated: dict[str, int] = {}
    for pod in gpu_pods:
        if pod["node"]:
            allocated[pod["node"]] = allocated.get(pod["node"], 0) + pod["gpus"]
    rows = []
    for node in sorted(nodes, key=lambda n: str(n["metadata"]["name"])):
        name = str(node["metadata"]["name"])
        used = allocated.get(name, 0)
        rows.append(
            {
                "name": name,
                "product": node["product"],
                "memoryMiB": node["memoryMiB"],
                "capacity": node["capacity"],
                "allocatable": node["allocatable"],
                "allocated": used,
                "free": max(node["allocatable"] - used, 0),
                "ready": node["ready"],
                "schedulable": node["schedulable"],
            }
        )
    usable = [r["free"] for r in rows if r["ready"] and r["schedulable"]]
    return {
        "resource": GPU_RESOURCE,
        "nodes": rows,
        "totals": {
            "nodes": len(rows),
            "capacity": sum(r["capacity"] for r in rows),
            "allocatable": sum(r["allocatable"] for r in rows),
            "allocated": sum(r["allocated"] for r in rows),
            "free": sum(r["free"] for r in rows),
            "maxFreePerNode": max(usable, default=0),
        },
    }
