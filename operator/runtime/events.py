"""Kubernetes Events that explain what the operator did, attached to the object they concern."""

from __future__ import annotations

import logging
import uuid

from ..models.common import now_rfc3339
from . import kube as k

log = logging.getLogger(__name__)
COMPONENT = "kubefoundry-operator"


async def post_event(kube: k.Kube, obj: k.JSON, type_: str, reason: str, message: str) -> None:
    """Best effort: an Event that cannot be written must never fail a reconcile."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    now = now_rfc3339()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.create(k.EVENTS, body, namespace)
    except (k.KubeError, k.ClusterUnavailable) as exc:
        log.warning("could not post event %s/%s: %s", reason, meta.get("name"), exc)
