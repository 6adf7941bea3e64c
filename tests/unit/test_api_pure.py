"""The API's pure pieces: label selectors, GPU accounting, views, the cache's bookkeeping, error mapping."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from kubefoundry.api import gpus, selectors, views
from kubefoundry.api.cache import Backoff, WatchCache
from kubefoundry.api.context import pod_label_keys
from kubefoundry.api.errors import Code, from_kube
from kubefoundry.operator.providers import all_providers
from kubefoundry.operator.providers.detect import image_tag, operator_version
from kubefoundry.operator.runtime import kube as k

# --- selectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a=b,c=d", {"a": "b", "c": "d", "e": "f"}, True),
        ("a=b,c=d", {"a": "b"}, False),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a in (x, y)", {"a": "y"}, True),
        ("a notin (x,y)", {"a": "z"}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "1"}, False),
        ("nvidia.com/dynamo-graph-deployment-name=chat", {"nvidia.com/dynamo-graph-deployment-name": "chat"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_selector_matching(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selectors.matches(selectors.parse(selector), labels) is expected


def test_selector_keys_and_errors() -> None:
    assert selectors.positive_keys("a=b,c!=d,e in (f),g,!h") == ["a", "e", "g"]
    with pytest.raises(selectors.SelectorError):
        selectors.parse("a=b=c")


def test_pod_label_keys_come_from_every_provider() -> None:
    keys = pod_label_keys(all_providers())
    for provider in all_providers():
        assert selectors.positive_keys(provider.pod_selector("x"))[0] in keys


# --- GPUs --------------------------------------------------------------------------------------------


def _pod(containers: list[int], inits: list[tuple[int, bool]] = (), node: str = "n1") -> dict[str, Any]:  # type: ignore[assignment]
    def c(n: int, sidecar: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": "c", "resources": {"limits": {gpus.GPU_RESOURCE: str(n)}} if n else {}}
        if sidecar:
            out["restartPolicy"] = "Always"
        return out

    return {
        "metadata": {"name": "p", "namespace": "ns", "resourceVersion": "1"},
        "spec": {
            "nodeName": node,
            "containers": [c(n) for n in containers],
            "initContainers": [c(n, s) for n, s in inits],
        },
    }


@pytest.mark.parametrize(
    ("containers", "inits", "expected"),
    [
        ([1, 2], [], 3),
        ([0], [], 0),
        ([1], [(4, False)], 4),  # an init container needing more than the app
        ([1], [(1, True), (2, False)], 3),  # the sidecar runs while the later init container does
        ([1], [(2, False), (1, True)], 2),
        ([2], [(1, True)], 3),  # the sidecar keeps running beside the app
    ],
)
def test_pod_gpu_request(containers: list[int], inits: list[tuple[int, bool]], expected: int) -> None:
    assert gpus.pod_gpu_request(_pod(containers, inits)) == expected


def test_requests_win_over_limits_and_garbage_counts_as_zero() -> None:
    both = {"requests": {gpus.GPU_RESOURCE: "2"}, "limits": {gpus.GPU_RESOURCE: "2"}}
    pod = {"spec": {"containers": [{"resources": both}, {"resources": {"requests": {gpus.GPU_RESOURCE: "lots"}}}]}}
    assert gpus.pod_gpu_request(pod) == 2
    assert gpus.gpu_pod_entry(_pod([0])) is None


def _node(
    name: str, capacity: int, *, ready: bool = True, cordoned: bool = False, label: bool = True
) -> dict[str, Any]:
    labels = {gpus.LABEL_PRODUCT: "H100", gpus.LABEL_MEMORY: "81559"} if label else {}
    return {
        "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
        "spec": {"unschedulable": cordoned},
        "status": {
            "capacity": {gpus.GPU_RESOURCE: str(capacity)} if capacity else {},
            "allocatable": {gpus.GPU_RESOURCE: str(capacity)} if capacity else {},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def test_gpu_report() -> None:
    nodes = [
        e
        for e in map(gpus.node_entry, [_node("b", 8), _node("a", 4, cordoned=True), _node("cpu", 0, label=False)])
        if e
    ]
    pods = [e for e in (gpus.gpu_pod_entry(_pod([3], node="b")), gpus.gpu_pod_entry(_pod([6], node="a")),
                        gpus.gpu_pod_entry(_pod([1], node=""))) if e]  # fmt: skip
    report = gpus.gpu_report(nodes, pods)
    assert [n["name"] for n in report["nodes"]] == ["a", "b"]
    a, b = report["nodes"]
    assert (a["allocated"], a["free"], a["schedulable"]) == (6, 0, False)  # over-allocated: free is never negative
    assert (b["allocated"], b["free"], b["product"], b["memoryMiB"]) == (3, 5, "H100", 81559)
    assert report["totals"] == {
        "nodes": 2,
        "capacity": 12,
        "allocatable": 12,
        "allocated": 9,
        "free": 5,
        "maxFreePerNode": 5,
    }


# --- views ---------------------------------------------------------------------------------------------


def test_summary_before_the_operator_and_when_terminating() -> None:
    kfd = {
        "metadata": {"name": "d", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"modelId": "m/x", "mode": "disaggregated", "prefill": {"replicas": 2}},
    }
    s = views.deployment_summary(kfd)
    assert s["phase"] == "Pending" and s["provider"] is None and s["message"] == "Waiting for the operator"
    assert s["replicas"] == {"desired": 3, "ready": 0, "available": 0}  # decode defaults to one replica
    kfd["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    kfd["status"] = {
        "phase": "Running", "provider": "dynamo", "desiredReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"}],
    }  # fmt: skip
    s = views.deployment_summary(kfd)
    assert (s["phase"], s["provider"], s["message"]) == ("Terminating", "dynamo", None)
    assert s["replicas"] == {"desired": 3, "ready": 3, "available": 3}


def _status(phase: str, *, scheduled: dict[str, str] | None = None, waiting: dict[str, str] | None = None) -> Any:
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "PodScheduled", **(scheduled or {"status": "True"})}],
    }
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": waiting}}]
    return {"status": status}


def test_pod_reasons() -> None:
    unschedulable = {"status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}
    assert views.pod_reason(_status("Pending", scheduled=unschedulable)) == "0/3 nodes are available"
    pulling = _status("Pending", waiting={"reason": "ImagePullBackOff", "message": "nope"})
    assert views.pod_reason(pulling) == "ImagePullBackOff: nope"
    assert views.pod_reason(_status("Pending", waiting={"reason": "ContainerCreating"})) is None
    evicted = {"status": {"phase": "Failed", "reason": "Evicted", "message": "low memory"}}
    assert views.pod_reason(evicted) == "Evicted: low memory"


# --- the cache's bookkeeping -----------------------------------------------------------------------------


def _obj(name: str, rv: int, ns: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}}


def test_cache_ignores_stale_events_and_keeps_deletions() -> None:
    cache = WatchCache(cast(k.Kube, None), k.PODS)
    cache.upsert(_obj("a", 5))
    cache.upsert(_obj("a", 4))  # an older event arriving late
    assert cache.get("ns", "a") == _obj("a", 5)
    version = cache.version
    cache.remove("ns", "a", "6")
    assert cache.get("ns", "a") is None and cache.version > version
    cache.upsert(_obj("a", 6))  # the watch's MODIFIED from before the delete
    assert cache.get("ns", "a") is None
    cache.upsert(_obj("a", 9))  # re-created
    assert cache.get("ns", "a") == _obj("a", 9)
    cache.upsert(_obj("b", 1, ns="other"))
    assert [o["metadata"]["name"] for o in cache.items("other")] == ["b"]
    assert len(cache) == 2 and list(cache.items("none")) == []


def test_cache_transform_can_drop_objects() -> None:
    cache = WatchCache(cast(k.Kube, None), k.PODS, transform=lambda o: None if o["metadata"]["name"] == "x" else o)
    cache.upsert(_obj("x", 1))
    cache.upsert(_obj("y", 1))
    assert [o["metadata"]["name"] for o in cache.items()] == ["y"]


def test_a_relist_keeps_what_happened_after_the_list() -> None:
    """A list served from the API server's watch cache can be older than the API's own writes."""
    cache = WatchCache(cast(k.Kube, None), k.PODS)
    cache.upsert(_obj("old", 3))
    cache.upsert(_obj("written", 12))  # the API's own write, after the list's version
    cache.upsert(_obj("gone", 4))
    cache.remove("ns", "gone", "11")  # deleted after the list's version
    cache._replace_all([_obj("listed", 9), _obj("gone", 4), _obj("old", 3)], list_rv=10)
    assert sorted(o["metadata"]["name"] for o in cache.items()) == ["listed", "old", "written"]
    cache._replace_all([_obj("listed", 9)], list_rv=13)  # a newer list is the truth
    assert [o["metadata"]["name"] for o in cache.items()] == ["listed"]


def test_backoff_grows_and_starts_again_only_after_a_quiet_period() -> None:
    backoff = Backoff(0.01, 0.04, reset_after=0.2)
    delays = [backoff.next() for _ in range(5)]
    for delay, base in zip(delays, (0.01, 0.02, 0.04, 0.04, 0.04), strict=True):
        assert base * 0.5 <= delay <= base * 1.5
    time.sleep(0.25)
    assert backoff.next() <= 0.015


# --- errors and detection helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        (404, "NotFound", Code.NOT_FOUND),
        (409, "AlreadyExists", Code.ALREADY_EXISTS),
        (422, "Invalid", Code.VALIDATION_ERROR),
        (403, "Forbidden", Code.FORBIDDEN),
        (409, "Conflict", Code.KUBERNETES_ERROR),
        (500, "InternalError", Code.KUBERNETES_ERROR),
        (429, "TooManyRequests", Code.KUBERNETES_ERROR),
    ],
)
def test_kubernetes_errors_map_to_codes(status: int, reason: str, code: Code) -> None:
    body = {"details": {"causes": [{"field": "spec.replicas", "message": "bad", "reason": "FieldValueInvalid"}]}}
    err = from_kube(k.KubeError(status, reason, "message", body))
    assert err.code == code
    assert err.details == {"fields": [{"field": "spec.replicas", "message": "bad", "type": "FieldValueInvalid"}]}
    assert from_kube(k.KubeError(status, reason, "message")).details == {}


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("nvcr.io/nvidia/ai-dynamo/kubernetes-operator:1.0.1", "1.0.1"),
        ("localhost:5000/op:v2", "v2"),
        ("localhost:5000/op", None),
        ("op@sha256:abc", None),
        ("op:3@sha256:abc", "3"),
    ],
)
def test_image_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def test_operator_version_prefers_the_label() -> None:
    dep = {"metadata": {"labels": {"app.kubernetes.io/version": "9"}},
           "spec": {"template": {"spec": {"containers": [{"image": "x:1"}]}}}}  # fmt: skip
    assert operator_version(dep) == "9"
    del dep["metadata"]["labels"]
    assert operator_version(dep) == "1"
