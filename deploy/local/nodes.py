"""Renders the fake nodes described by topology.yaml as Node manifests (a YAML stream on stdout).

The nodes carry KWOK's annotation so its controller plays their kubelet, the capacity the real
scheduler reads, and the labels NVIDIA GPU feature discovery sets on real GPU nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml


def node(pool: dict[str, Any], index: int) -> dict[str, Any]:
    name = f"{pool['name']}-{index}"
    capacity: dict[str, str] = {
        "cpu": str(pool.get("cpu", "16")),
        "memory": str(pool.get("memory", "64Gi")),
        "pods": str(pool.get("pods", 110)),
        "ephemeral-storage": str(pool.get("ephemeralStorage", "1Ti")),
    }
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool["name"],
        "kubefoundry.io/node-pool": pool["name"],
        "type": "kwok",
    }
    gpus = int(pool.get("gpus", 0))
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.product": str(pool.get("gpuProduct", "NVIDIA-H100-80GB-HBM3")),
                "nvidia.com/gpu.memory": str(pool.get("gpuMemoryMiB", 81559)),
                "nvidia.com/gpu.family": str(pool.get("gpuFamily", "hopper")),
                "nvidia.com/cuda.driver.major": "570",
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity, "phase": "Running"},
    }


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("topology.yaml"))
    topology = yaml.safe_load(path.read_text())
    nodes = [node(pool, i) for pool in topology["nodePools"] for i in range(int(pool.get("count", 1)))]
    yaml.safe_dump_all(nodes, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
