"""Dynamo STAND-IN controller: NOT NVIDIA Dynamo.

The real Dynamo operator cannot run on the local development cluster (it needs its webhook
certificates, NATS, its images...), so this module reproduces its observable contract from the outside,
for tests and `make dev`: what a client of `DynamoGraphDeployment` (DGD, `nvidia.com/v1alpha1`) sees.

Reproduced (§ numbers refer to the team's Dynamo notes, ../shared/notes/dynamo.md next to the repository):
- one `apps/v1` Deployment per service, named `<dgd>-<lower(serviceKey)>` (DCD pathway, §2.2), owned by the
  DGD, selector `nvidia.com/selector: <name>`, Dynamo's pod labels, main container `main` with the
  service's image/command/args/workingDir/env/envFrom/resources (`gpu` → `nvidia.com/gpu`), Dynamo's
  injected ports, probes and env (§1.5); the real scheduler then places the pods on KWOK's fake nodes;
- the frontend Service `<dgd>-<lower(frontendKey)>` on port 8000 `http` (§5), and one Service per worker
  on port 9090 `system` (Kubernetes discovery, the default; its selector is assumed to match the
  frontend's shape);
- `status` as Dynamo writes it (§2.1): `state`, the `Ready` condition with Dynamo's reasons and messages,
  `services.<key>` replica counts, `observedGeneration`;
- the webhook's update rules, enforced by the API server through the ValidatingAdmissionPolicy in
  deploy/local/dynamo-standin/admission-policy.yaml, which this controller applies at startup (§1.4).

Simplified (deliberately):
- no DynamoComponentDeployment objects: the DGD owns the Deployments directly;
- worker Deployments carry no `-<8-hex worker hash>` suffix and no `nvidia.com/dynamo-worker-hash` label,
  and a worker spec change is an ordinary rolling update of the same Deployment, not Dynamo's managed
  rolling update through a new DCD;
- no Grove, LWS or multinode (a multinode service fails the reconcile the way Dynamo does when no
  multinode orchestrator is installed), no PVC creation (`pvcs` with `create: true`), no Ingress,
  planner or EPP extras, no discovery ServiceAccount/RBAC, no NATS/etcd env;
- no mutating webhook (replicas are defaulted to 1 when building the Deployment, not written into the
  DGD spec; no `nvidia.com/dynamo-operator-origin-version` annotation) and no `nvidia.com/finalizer`,
  so a DGD can always be deleted even while the stand-in is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import kube as k
from ..kube import JSON

log = logging.getLogger("kubefoundry.standin.dynamo")

FIELD_MANAGER = "dynamo-standin"
DGDS = k.Resource("nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment")
VALIDATING_ADMISSION_POLICIES = k.Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    "ValidatingAdmissionPolicy",
    namespaced=False,
)
VALIDATING_ADMISSION_POLICY_BINDINGS = k.Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    namespaced=False,
)
ADMISSION_KINDS = {
    "ValidatingAdmissionPolicy": VALIDATING_ADMISSION_POLICIES,
    "ValidatingAdmissionPolicyBinding": VALIDATING_ADMISSION_POLICY_BINDINGS,
}

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ADMISSION_POLICY = REPO / "deploy" / "local" / "dynamo-standin" / "admission-policy.yaml"

# Labels (notes §2.2, upstream internal/consts/consts.go).
LABEL_DGD_NAME = "nvidia.com/dynamo-graph-deployment-name"
LABEL_COMPONENT = "nvidia.com/dynamo-component"
LABEL_COMPONENT_TYPE = "nvidia.com/dynamo-component-type"
LABEL_SUB_COMPONENT_TYPE = "nvidia.com/dynamo-sub-component-type"
LABEL_DYNAMO_NAMESPACE = "nvidia.com/dynamo-namespace"
LABEL_SELECTOR = "nvidia.com/selector"
LABEL_METRICS_ENABLED = "nvidia.com/metrics-enabled"
LABEL_DISCOVERY_BACKEND = "nvidia.com/dynamo-discovery-backend"
LABEL_DISCOVERY_ENABLED = "nvidia.com/dynamo-discovery-enabled"
ANNOTATION_ENABLE_METRICS = "nvidia.com/enable-metrics"
ANNOTATION_DISCOVERY_BACKEND = "nvidia.com/dynamo-discovery-backend"

FRONTEND = "frontend"
WORKER_TYPES = frozenset({"worker", "prefill", "decode"})
FRONTEND_PORT = 8000
SYSTEM_PORT = 9090
NIXL_PORT = 19090

# Condition reasons and messages as Dynamo writes them (dynamographdeployment_controller.go).
READY = "Ready"
REASON_READY = "all_resources_are_ready"
REASON_NOT_READY = "some_resources_are_not_ready"
REASON_FAILED = "failed_to_reconcile_the_resources"
MESSAGE_READY = "All resources are ready"
# What Dynamo's DGD controller reports for a DynamoComponentDeployment that is not Available.
DCD_NOT_READY = "Component deployment not ready - Available condition not true"


class ReconcileError(Exception):
    """The DGD cannot be realised as written; Dynamo reports this as state `failed`."""


# --- pure builders --------------------------------------------------------------------------------


def component_name(dgd_name: str, service_key: str) -> str:
    """`<dgd>-<lower(serviceKey)>`: Dynamo's DCD name. Dynamo appends `-<8-hex worker hash>` to worker
    DCDs (and so to their Deployments); the stand-in does not (see the module docstring)."""
    return f"{dgd_name}-{service_key.lower()}"


def service_name(dgd_name: str, service_key: str) -> str:
    """The Kubernetes Service of a component: like the DCD name, with dots replaced (notes §5)."""
    return component_name(dgd_name, service_key).replace(".", "-")


def dynamo_namespace(dgd: JSON, service: JSON) -> str:
    """`<k8s-namespace>-<dgd>` with dots → '-', or `dynamo` with globalDynamoNamespace (notes §1.3)."""
    if service.get("globalDynamoNamespace"):
        return "dynamo"
    meta = dgd["metadata"]
    return f"{meta['namespace']}-{meta['name']}".replace(".", "-")


def component_labels(dgd: JSON, key: str, service: JSON) -> dict[str, str]:
    """The labels Dynamo puts on a component's pods (notes §2.2)."""
    meta = dgd["metadata"]
    annotations = meta.get("annotations") or {}
    labels = {
        LABEL_DGD_NAME: meta["name"],
        LABEL_COMPONENT: key,
        LABEL_DYNAMO_NAMESPACE: dynamo_namespace(dgd, service),
        LABEL_SELECTOR: component_name(meta["name"], key),
        LABEL_DISCOVERY_BACKEND: annotations.get(ANNOTATION_DISCOVERY_BACKEND) or "kubernetes",
        LABEL_DISCOVERY_ENABLED: "true",
    }
    if service.get("componentType"):
        labels[LABEL_COMPONENT_TYPE] = str(service["componentType"])
    if service.get("subComponentType"):
        labels[LABEL_SUB_COMPONENT_TYPE] = str(service["subComponentType"])
    if annotations.get(ANNOTATION_ENABLE_METRICS) != "false":
        labels[LABEL_METRICS_ENABLED] = "true"
    return labels


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


def deployment_ready(deployment: JSON) -> bool:
    """Rolled out: the controller saw the latest spec and every replica is updated, ready and available
    (and no old replica lingers)."""
    want = int((deployment.get("spec") or {}).get("replicas", 1))
    status = deployment.get("status") or {}
    return (
        int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 0))
        and int(status.get("replicas", 0)) == want
        and int(status.get("updatedReplicas", 0)) == want
        and int(status.get("readyReplicas", 0)) == want
        and int(status.get("availableReplicas", 0)) == want
    )


def service_status(deployment: JSON) -> JSON:
    """`status.services.<key>` from the Deployment, as Dynamo's DCD controller fills it."""
    name = deployment["metadata"]["name"]
    status = deployment.get("status") or {}
    return {
        "componentKind": "Deployment",
        "componentName": name,
        "componentNames": [name],
        "replicas": int(status.get("replicas", 0)),
        "updatedReplicas": int(status.get("updatedReplicas", 0)),
        "readyReplicas": int(status.get("readyReplicas", 0)),
        "availableReplicas": int(status.get("availableReplicas", 0)),
    }


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_condition(status: str, reason: str, message: str, previous: JSON | None) -> JSON:
    """Like apimachinery's meta.SetStatusCondition: lastTransitionTime moves only when status flips.
    The CRD requires lastTransitionTime, message, reason, status and type."""
    since = previous.get("lastTransitionTime") if previous and previous.get("status") == status else None
    return {
        "type": READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now_rfc3339(),
    }


def status_patch(current: JSON, desired: JSON) -> JSON | None:
    """A merge patch turning `current` status into `desired` for the fields we own, or None if equal.
    Conditions are compared without lastTransitionTime; services that disappeared are nulled."""

    def comparable(status: JSON) -> JSON:
        fields = ("type", "status", "reason", "message")
        conds = sorted(
            ({f: c.get(f) for f in fields} for c in status.get("conditions") or []),
            key=lambda c: str(c["type"]),
        )
        return {
            "state": status.get("state"),
            "conditions": conds,
            **{f: status.get(f) for f in ("services", "observedGeneration") if f in desired},
        }

    if comparable(current) == comparable(desired):
        return None
    patch = dict(desired)
    if "services" in desired:
        gone = {key: None for key in (current.get("services") or {}) if key not in desired["services"]}
        patch["services"] = {**gone, **desired["services"]}
    return patch


# --- the controller ---------------------------------------------------------------------------------

Key = tuple[str, str]  # (namespace, name)


class WorkQueue:
    """A deduplicating queue, like client-go's: a key waits at most once, a key being processed is not
    handed to a second worker, and a key added while it is processed is processed again afterwards."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._dirty: set[Key] = set()
        self._processing: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.put_nowait(key)

    def __len__(self) -> int:
        return len(self._dirty)


def controller_owner(obj: JSON) -> str | None:
    """The name of the DGD that controls `obj`, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        is_dgd = (ref.get("apiVersion"), ref.get("kind")) == (DGDS.api_version, DGDS.kind)
        if ref.get("controller") and is_dgd:
            return str(ref["name"])
    return None


def owned_by(obj: JSON, dgd: JSON) -> bool:
    uid = dgd["metadata"]["uid"]
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


@dataclass
class Options:
    workers: int = 4
    admission_policy: Path | None = DEFAULT_ADMISSION_POLICY
    watch_timeout: int = 300


class DynamoStandIn:
    def __init__(self, kube: k.Kube, options: Options | None = None) -> None:
        self.kube = kube
        self.options = options or Options()
        self.queue = WorkQueue()
        self._failures: dict[Key, int] = {}
        self.synced = asyncio.Event()  # set once the first DGD list has been queued

    # -- admission policy --

    async def apply_admission_policy(self) -> None:
        path = self.options.admission_policy
        if path is None:
            log.warning("not applying the admission policy (disabled): DGD update rules are NOT enforced")
            return
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            res = ADMISSION_KINDS.get(doc.get("kind", ""))
            if res is None:
                raise ValueError(f"{path}: unexpected kind {doc.get('kind')!r}")
            await self.kube.apply(res, doc, field_manager=FIELD_MANAGER)
            log.info("applied %s %s from %s", doc["kind"], doc["metadata"]["name"], path)

    async def wait_admission_policy_active(self, within: float = 30.0) -> bool:
        """The API server loads policies asynchronously: probe with a dry-run DGD without services until
        it is rejected by the policy (nothing is stored)."""
        probe = {
            "apiVersion": DGDS.api_version,
            "kind": DGDS.kind,
            "metadata": {"generateName": "dynamo-standin-policy-probe-", "namespace": "default"},
            "spec": {"services": {}},
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            try:
                await self.kube.create(DGDS, probe, "default", dry_run=True)
            except k.NotFound:
                log.warning("no DynamoGraphDeployment CRD: cannot probe the admission policy")
                return False
            except k.KubeError as exc:
                if "spec.services must have at least one service" in exc.message:
                    return True
                log.debug("admission probe: %s", exc)
            except k.ClusterUnavailable as exc:
                log.debug("admission probe: %s", exc)
            await asyncio.sleep(0.25)
        log.warning("the admission policy was not enforced after %.0fs", within)
        return False

    # -- watches --

    async def _watch_forever(
        self,
        res: k.Resource,
        label_selector: str | None,
        on_object: Callable[[str, JSON], None],
        on_synced: Callable[[], None] | None = None,
    ) -> None:
        """List, then watch from the list's resourceVersion; relist after Gone or a broken connection."""
        rv: str | None = None
        backoff = 0.5
        missing = False  # the resource is not served (yet): warn once, then poll quietly
        while True:
            try:
                if rv is None:
                    listing = await self.kube.list(res, label_selector=label_selector)
                    rv = str(listing["metadata"]["resourceVersion"])
                    if missing:
                        log.info("%s.%s is served now", res.plural, res.group)
                    backoff, missing = 0.5, False
                    for item in listing.get("items") or []:
                        on_object("LISTED", item)
                    if on_synced is not None:
                        on_synced()
                async for event in self.kube.watch(
                    res,
                    resource_version=rv,
                    label_selector=label_selector,
                    timeout_seconds=self.options.watch_timeout,
                ):
                    obj = event.get("object") or {}
                    rv = str(obj.get("metadata", {}).get("resourceVersion") or rv)
                    if event.get("type") != "BOOKMARK":
                        on_object(str(event.get("type")), obj)
                # The server ended the watch normally: resume from rv.
            except k.Gone:
                log.info("watch on %s expired; relisting", res.plural)
                rv = None
            except (k.ClusterUnavailable, k.KubeError) as exc:
                rv = None
                if isinstance(exc, k.NotFound):
                    if not missing:
                        log.warning("%s.%s is not served (CRD not installed?); waiting for it", res.plural, res.group)
                    missing = True
                    await asyncio.sleep(min(backoff, 5.0))
                else:
                    log.warning("watch on %s failed: %s; relisting in %.1fs", res.plural, exc, backoff)
                    await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                log.exception("watch on %s broke unexpectedly; relisting in %.1fs", res.plural, backoff)
                rv = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _on_dgd(self, _type: str, obj: JSON) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") and meta.get("name"):
            self.queue.add((meta["namespace"], meta["name"]))

    def _on_child(self, _type: str, obj: JSON) -> None:
        owner = controller_owner(obj)
        ns = (obj.get("metadata") or {}).get("namespace")
        if owner and ns:
            self.queue.add((ns, owner))

    # -- reconcile --

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(*key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(0.5 * 2 ** (n - 1), 60.0)
                log.warning("reconcile %s/%s failed (%s); retrying in %.1fs", key[0], key[1], exc, delay)
                self.queue.add_after(key, delay)
            finally:
                self.queue.done(key)

    async def reconcile(self, namespace: str, name: str) -> None:
        dgd = await self.kube.get_or_none(DGDS, name, namespace)
        if dgd is None or dgd["metadata"].get("deletionTimestamp"):
            return  # the garbage collector removes the children through their owner references
        try:
            deployments = await self._sync_children(dgd)
        except (ReconcileError, k.KubeError) as exc:
            if isinstance(exc, k.KubeError) and exc.status == 403 and "being terminated" in exc.message:
                log.debug("%s/%s: namespace is being deleted; leaving the DGD alone", namespace, name)
                return
            message = exc.message if isinstance(exc, k.KubeError) else str(exc)
            await self._write_status(
                dgd,
                {
                    "state": "failed",
                    "conditions": self._conditions(dgd, "False", REASON_FAILED, message),
                },
            )
            if isinstance(exc, ReconcileError):
                log.info("%s/%s: failed: %s", namespace, name, message)
                return  # nothing to retry until the spec changes
            raise
        not_ready = [
            f"{d['metadata']['name']}: {DCD_NOT_READY}"
            for d in sorted(deployments.values(), key=lambda d: str(d["metadata"]["name"]))
            if not deployment_ready(d)
        ]
        if not_ready:
            message = "Resources not ready: " + "; ".join(not_ready)
            state, cond = "pending", ("False", REASON_NOT_READY, message)
        else:
            state, cond = "successful", ("True", REASON_READY, MESSAGE_READY)
        await self._write_status(
            dgd,
            {
                "state": state,
                "conditions": self._conditions(dgd, *cond),
                "services": {key: service_status(d) for key, d in sorted(deployments.items())},
                "observedGeneration": dgd["metadata"].get("generation"),
            },
        )

    async def _sync_children(self, dgd: JSON) -> dict[str, JSON]:
        meta = dgd["metadata"]
        namespace = meta["namespace"]
        services: dict[str, Any] = (dgd.get("spec") or {}).get("services") or {}
        wanted = {key: build_deployment(dgd, key, svc or {}) for key, svc in services.items()}
        wanted_services = {key: build_service(dgd, key, svc or {}) for key, svc in services.items()}
        deployments: dict[str, JSON] = {}
        for key, body in sorted(wanted.items()):
            deployments[key] = await self.kube.apply(k.DEPLOYMENTS, body, field_manager=FIELD_MANAGER)
        for _key, svc_body in sorted(wanted_services.items()):
            if svc_body is not None:
                await self.kube.apply(k.SERVICES, svc_body, field_manager=FIELD_MANAGER)

        # Delete what this DGD owns but no longer wants (services removed from the spec).
        selector = f"{LABEL_DGD_NAME}={meta['name']}"
        keep = {
            k.DEPLOYMENTS.plural: {b["metadata"]["name"] for b in wanted.values()},
            k.SERVICES.plural: {b["metadata"]["name"] for b in wanted_services.values() if b is not None},
        }
        for res in (k.DEPLOYMENTS, k.SERVICES):
            listing = await self.kube.list(res, namespace, label_selector=selector)
            for obj in listing.get("items") or []:
                obj_name = obj["metadata"]["name"]
                if owned_by(obj, dgd) and obj_name not in keep[res.plural]:
                    log.info(
                        "%s/%s: deleting %s %s (its service left the spec)", namespace, meta["name"], res.kind, obj_name
                    )
                    await self.kube.delete(res, obj_name, namespace)
        return deployments

    @staticmethod
    def _conditions(dgd: JSON, status: str, reason: str, message: str) -> list[JSON]:
        current = (dgd.get("status") or {}).get("conditions") or []
        previous = next((c for c in current if c.get("type") == READY), None)
        others = [c for c in current if c.get("type") != READY]
        return [*others, ready_condition(status, reason, message, previous)]

    async def _write_status(self, dgd: JSON, desired: JSON) -> None:
        patch = status_patch(dgd.get("status") or {}, desired)
        if patch is None:
            return
        meta = dgd["metadata"]
        await self.kube.merge_patch(
            DGDS,
            meta["name"],
            {"status": patch},
            meta["namespace"],
            subresource="status",
            field_manager=FIELD_MANAGER,
        )
        ready = next(c for c in desired["conditions"] if c["type"] == READY)
        log.info(
            "%s/%s: state=%s Ready=%s (%s)",
            meta["namespace"],
            meta["name"],
            desired["state"],
            ready["status"],
            ready["message"],
        )

    # -- main loop --

    async def run(self) -> None:
        log.info(
            "Dynamo STAND-IN controller (not NVIDIA Dynamo): reconciles %s.%s/%s into Deployments and "
            "Services with Dynamo's names, labels and status; API server %s",
            DGDS.plural,
            DGDS.group,
            DGDS.version,
            self.kube.host,
        )
        delay = 0.5
        while True:
            try:
                await self.apply_admission_policy()
                break
            except k.ClusterUnavailable as exc:
                log.warning("%s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if self.options.admission_policy is not None and await self.wait_admission_policy_active():
            log.info("admission policy active: Dynamo's DGD update rules are enforced by the API server")

        tasks: list[asyncio.Task[None]] = []

        def spawn(coro: Awaitable[None], name: str) -> None:
            async def wrapped() -> None:
                await coro

            tasks.append(asyncio.create_task(wrapped(), name=name))

        spawn(self._watch_forever(DGDS, None, self._on_dgd, self.synced.set), "watch-dgds")
        spawn(self._watch_forever(k.DEPLOYMENTS, LABEL_DGD_NAME, self._on_child), "watch-deployments")
        spawn(self._watch_forever(k.SERVICES, LABEL_DGD_NAME, self._on_child), "watch-services")
        for i in range(max(1, self.options.workers)):
            spawn(self._worker(), f"worker-{i}")
        await self.synced.wait()
        log.info("ready: watching DGDs in all namespaces (%d workers)", self.options.workers)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a crashed task ends the process loudly
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def amain(kubeconfig: str | None, options: Options) -> None:
    kube = await k.Kube.connect(kubeconfig)
    standin = DynamoStandIn(kube, options)
    main_task = asyncio.create_task(standin.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, main_task.cancel)
    try:
        await main_task
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        await kube.close()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m kubefoundry.operator.standin",
        description="Dynamo STAND-IN controller (not NVIDIA Dynamo) for local development and tests.",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config or in-cluster)",
    )
    parser.add_argument("--workers", type=int, default=4, help="concurrent reconciles (default 4)")
    parser.add_argument(
        "--admission-policy",
        type=Path,
        default=Path(os.environ.get("KUBEFOUNDRY_STANDIN_ADMISSION_POLICY") or DEFAULT_ADMISSION_POLICY),
        help="ValidatingAdmissionPolicy YAML to server-side apply at startup (default: %(default)s)",
    )
    parser.add_argument(
        "--no-admission-policy",
        action="store_true",
        help="do not apply the admission policy (Dynamo's update rules then go unenforced)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s dynamo-standin: %(message)s",
    )
    policy = None if args.no_admission_policy else args.admission_policy
    if policy is not None and not policy.is_file():
        parser.error(f"admission policy {policy} not found (use --admission-policy or --no-admission-policy)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args.kubeconfig, Options(workers=args.workers, admission_policy=policy)))
