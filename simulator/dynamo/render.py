"""The Deployment and the Service Dynamo's operator creates for one DGD service (notes §1.5, §2.2, §5).

Pure functions of the DGD; what they reproduce and what they simplify is listed in the package docstring.
"""

from __future__ import annotations

import copy

from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.kube import JSON

from .names import (
    LABEL_COMPONENT,
    LABEL_COMPONENT_TYPE,
    LABEL_DGD_NAME,
    LABEL_DYNAMO_NAMESPACE,
    LABEL_SELECTOR,
    component_labels,
    component_name,
    dynamo_namespace,
    service_name,
)

FRONTEND = "frontend"
WORKER_TYPES = frozenset({"worker", "prefill", "decode"})
FRONTEND_PORT = 8000
SYSTEM_PORT = 9090
NIXL_PORT = 19090


class ReconcileError(Exception):
    """The DGD cannot be realised as written; Dynamo reports this as state `failed`."""


def _merge_env(*layers: list[JSON] | None) -> list[JSON]:
    """Env lists merged by name; later layers win, first-seen order is kept."""
    merged: dict[str, JSON] = {}
    for layer in layers:
        for var in layer or []:
            if var.get("name"):
                merged[var["name"]] = var
    return list(merged.values())


def _resource_list(spec: JSON | None) -> dict[str, str]:
    """Dynamo's `{cpu, memory, gpu, gpuType, custom}` → a Kubernetes resource list."""
    spec = spec or {}
    out: dict[str, str] = {}
    for name in ("cpu", "memory"):
        if spec.get(name):
            out[name] = str(spec[name])
    if spec.get("gpu"):
        out[str(spec.get("gpuType") or "nvidia.com/gpu")] = str(spec["gpu"])
    for name, value in (spec.get("custom") or {}).items():
        out[str(name)] = str(value)
    return out


def _http_probe(path: str, port: str, **extra: int) -> JSON:
    return {"httpGet": {"path": path, "port": port}, **extra}


def _injected(dgd: JSON, key: str, service: JSON) -> tuple[list[JSON], list[JSON], JSON]:
    """Ports, env and probes Dynamo's operator injects for the component type (notes §1.5). Worker probe
    timings are upstream's (component_worker.go); frontend timings are approximate. KWOK runs no probes."""
    ctype = service.get("componentType") or ""
    meta = dgd["metadata"]
    env: list[JSON] = [
        {"name": "DYN_NAMESPACE", "value": dynamo_namespace(dgd, service)},
        {"name": "DYN_PARENT_DGD_K8S_NAME", "value": meta["name"]},
        {"name": "DYN_PARENT_DGD_K8S_NAMESPACE", "value": meta["namespace"]},
    ]
    ports: list[JSON] = []
    probes: JSON = {}
    if ctype == FRONTEND:
        ports = [{"name": "http", "containerPort": FRONTEND_PORT, "protocol": "TCP"}]
        env += [
            {"name": "DYNAMO_PORT", "value": str(FRONTEND_PORT)},
            {"name": "DYN_HTTP_PORT", "value": str(FRONTEND_PORT)},
        ]
        probes = {
            "livenessProbe": _http_probe("/live", "http", periodSeconds=5, timeoutSeconds=4, failureThreshold=3),
            "readinessProbe": _http_probe("/health", "http", periodSeconds=10, timeoutSeconds=4, failureThreshold=3),
        }
    elif ctype in WORKER_TYPES:
        ports = [
            {"name": "system", "containerPort": SYSTEM_PORT, "protocol": "TCP"},
            {"name": "nixl", "containerPort": NIXL_PORT, "protocol": "TCP"},
        ]
        env += [
            {"name": "DYN_SYSTEM_ENABLED", "value": "true"},
            {"name": "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", "value": '["generate"]'},
            {"name": "DYN_SYSTEM_PORT", "value": str(SYSTEM_PORT)},
        ]
        probes = {
            "livenessProbe": _http_probe("/live", "system", periodSeconds=5, timeoutSeconds=4, failureThreshold=1),
            "readinessProbe": _http_probe("/health", "system", periodSeconds=10, timeoutSeconds=4, failureThreshold=3),
            # Model loading may take long: up to 2 h (720 probes, 10 s apart).
            "startupProbe": _http_probe("/live", "system", periodSeconds=10, timeoutSeconds=5, failureThreshold=720),
        }
    for name in ("livenessProbe", "readinessProbe"):
        if service.get(name):
            probes[name] = service[name]
    return ports, env, probes


def build_deployment(dgd: JSON, key: str, service: JSON) -> JSON:
    """The apps/v1 Deployment Dynamo's DCD controller would create for one service."""
    if service.get("multinode"):
        # What Dynamo reports on a cluster without Grove or LWS+Volcano.
        raise ReconcileError(f"service {key}: no multinode orchestrator available")
    meta = dgd["metadata"]
    spec = dgd.get("spec") or {}
    name = component_name(meta["name"], key)
    ctype = service.get("componentType") or ""
    labels = component_labels(dgd, key, service)

    extra = copy.deepcopy(service.get("extraPodSpec") or {})
    main: JSON = extra.pop("mainContainer", None) or {}
    ports, injected_env, probes = _injected(dgd, key, service)

    container: JSON = {**main, "name": "main"}
    if ctype == FRONTEND and not main.get("command") and not main.get("args"):
        container["command"] = ["python3"]
        container["args"] = ["-m", "dynamo.frontend"]
    container["env"] = _merge_env(injected_env, spec.get("envs"), service.get("envs"), main.get("env"))
    if service.get("envFromSecret"):
        secret_ref = {"secretRef": {"name": service["envFromSecret"]}}
        container["envFrom"] = [*(main.get("envFrom") or []), secret_ref]
    resources = service.get("resources") or {}
    main_resources = main.get("resources") or {}
    limits = {**(main_resources.get("limits") or {}), **_resource_list(resources.get("limits"))}
    requests = {**(main_resources.get("requests") or {}), **_resource_list(resources.get("requests"))}
    container["resources"] = {k_: v for k_, v in (("limits", limits), ("requests", requests)) if v}
    if ports:
        have = {p.get("name") for p in main.get("ports") or []}
        container["ports"] = [*(main.get("ports") or []), *(p for p in ports if p["name"] not in have)]
    for probe, value in probes.items():
        container.setdefault(probe, value)

    volumes: list[JSON] = list(extra.pop("volumes", None) or [])
    mounts: list[JSON] = list(container.get("volumeMounts") or [])
    shm = service.get("sharedMemory") or {}
    if not shm.get("disabled"):
        size = str(shm.get("size") or "8Gi")
        volumes.append({"name": "shared-memory", "emptyDir": {"medium": "Memory", "sizeLimit": size}})
        mounts.append({"name": "shared-memory", "mountPath": "/dev/shm"})
    for mount in service.get("volumeMounts") or []:
        # Only mounts of existing PVCs with an explicit mountPoint (no compilation-cache defaults).
        if mount.get("name") and mount.get("mountPoint"):
            if not any(v.get("name") == mount["name"] for v in volumes):
                volumes.append({"name": mount["name"], "persistentVolumeClaim": {"claimName": mount["name"]}})
            mounts.append({"name": mount["name"], "mountPath": mount["mountPoint"]})
    if mounts:
        container["volumeMounts"] = mounts

    others = [c for c in extra.pop("containers", None) or [] if c.get("name") != "main"]
    pod_spec: JSON = {**extra, "containers": [container, *others]}
    if volumes:
        pod_spec["volumes"] = volumes
    pod_spec.setdefault("securityContext", {}).setdefault("fsGroup", 1000)
    pod_spec.setdefault("terminationGracePeriodSeconds", 60)

    # User labels and annotations (DGD, then service, then pod metadata); Dynamo's own labels win.
    pod_meta = service.get("extraPodMetadata") or {}
    object_labels = {**(spec.get("labels") or {}), **(service.get("labels") or {}), **labels}
    object_annotations = {**(spec.get("annotations") or {}), **(service.get("annotations") or {})}
    pod_labels = {**object_labels, **(pod_meta.get("labels") or {}), **labels}
    pod_annotations = {**object_annotations, **(pod_meta.get("annotations") or {})}
    replicas = service.get("replicas")
    template_meta: JSON = {"labels": pod_labels}
    if pod_annotations:
        template_meta["annotations"] = pod_annotations
    deployment_meta: JSON = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": object_labels,
        "ownerReferences": [k.owner_reference(dgd)],
    }
    if object_annotations:
        deployment_meta["annotations"] = object_annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": deployment_meta,
        "spec": {
            "replicas": 1 if replicas is None else int(replicas),
            "selector": {"matchLabels": {LABEL_SELECTOR: name}},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def build_service(dgd: JSON, key: str, service: JSON) -> JSON | None:
    """The component Service: frontend on 8000 `http` (notes §5), workers on 9090 `system`."""
    ctype = service.get("componentType") or ""
    if ctype == FRONTEND:
        port = {"name": "http", "port": FRONTEND_PORT, "targetPort": "http", "protocol": "TCP"}
    elif ctype in WORKER_TYPES:
        port = {"name": "system", "port": SYSTEM_PORT, "targetPort": "system", "protocol": "TCP"}
    else:
        return None
    meta = dgd["metadata"]
    labels = component_labels(dgd, key, service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(meta["name"], key),
            "namespace": meta["namespace"],
            "labels": {n: labels[n] for n in (LABEL_DGD_NAME, LABEL_COMPONENT, LABEL_COMPONENT_TYPE) if n in labels},
            "ownerReferences": [k.owner_reference(dgd)],
        },
        "spec": {
            "ports": [port],
            "selector": {
                LABEL_COMPONENT_TYPE: ctype,
                LABEL_DYNAMO_NAMESPACE: labels[LABEL_DYNAMO_NAMESPACE],
                LABEL_COMPONENT: key,
            },
        },
    }
