"""A small async Kubernetes client over raw REST paths.

kubernetes_asyncio loads the kubeconfig (or in-cluster config) and handles TLS and auth; this module
adds what the operator and the API need on top: server-side apply, status patches, streaming
watches, and errors that say what the API server said.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio import client, config

JSON = dict[str, Any]
FIELD_MANAGER = "kubefoundry"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST tree."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


PODS = Resource("", "v1", "pods", "Pod")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
SERVICES = Resource("", "v1", "services", "Service")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)


class KubeError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, body: JSON | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def causes(self) -> list[JSON]:
        details = self.body.get("details") or {}
        return list(details.get("causes") or [])


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Gone(KubeError):
    """A watch's resourceVersion is too old: relist."""


class ClusterUnavailable(Exception):
    """The API server could not be reached at all."""


# Statuses that say "not now" rather than "no": a starting or overloaded API server, a proxy in between.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def transient(exc: BaseException) -> bool:
    """Whether the same request can succeed later with nothing changed: unreachable, or 429/5xx."""
    return isinstance(exc, ClusterUnavailable) or (isinstance(exc, KubeError) and exc.status in TRANSIENT_STATUSES)


def _error_for(status: int, body: JSON, text: str) -> KubeError:
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or text or reason)
    cls: type[KubeError] = KubeError
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 410:
        cls = Gone
    return cls(status, reason, message, body)


class Kube:
    """One connection pool to one API server."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, timeout: float = 30.0) -> Kube:
        cfg = client.Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            await config.load_kube_config(config_file=path, client_configuration=cfg)
        else:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        # Watches and applies run concurrently for many objects; the default pool of 100 would queue.
        cfg.connection_pool_maxsize = 256
        kube = cls(client.ApiClient(configuration=cfg))
        kube.timeout = timeout
        return kube

    timeout: float = 30.0

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    async def close(self) -> None:
        await self._api.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        try:
            resp: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=params,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout if timeout is not None else self.timeout,
            )
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise ClusterUnavailable(f"cannot reach the Kubernetes API at {self.host}: {exc}") from exc
        return resp

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> JSON:
        resp = await self._call(method, path, query=query, body=body, content_type=content_type)
        try:
            text = await resp.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ClusterUnavailable(f"connection to {self.host} broke: {exc}") from exc
        finally:
            resp.release()
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {}
        if not 200 <= resp.status < 300:
            raise _error_for(resp.status, data if isinstance(data, dict) else {}, text)
        return data if isinstance(data, dict) else {"items": data}

    # --- typed verbs -------------------------------------------------------------------------

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", res.path(namespace, name))

    async def get_or_none(self, res: Resource, name: str, namespace: str | None = None) -> JSON | None:
        try:
            return await self.get(res, name, namespace)
        except NotFound:
            return None

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> JSON:
        """Lists every page and returns one list object (items + the list's resourceVersion).

        Without `resource_version` the API server reads etcd (a quorum read); "0" serves any state its
        watch cache holds, and a version with `resource_version_match="NotOlderThan"` one at least that new.
        """
        items: builtins.list[JSON] = []
        cont: str | None = None
        while True:
            page = await self.request(
                "GET",
                res.path(namespace),
                query={
                    "labelSelector": label_selector,
                    "fieldSelector": field_selector,
                    "limit": limit or 500,
                    "continue": cont,
                    # Later pages are read at the first page's version, which the continue token carries.
                    "resourceVersion": None if cont else resource_version,
                    "resourceVersionMatch": None if cont else resource_version_match,
                },
            )
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                page["items"] = items
                return page

    async def create(self, res: Resource, body: JSON, namespace: str | None = None, *, dry_run: bool = False) -> JSON:
        return await self.request("POST", res.path(namespace), body=body, query={"dryRun": "All" if dry_run else None})

    async def apply(
        self,
        res: Resource,
        body: JSON,
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> JSON:
        """Server-side apply: the API server merges our intent and keeps other managers' fields."""
        meta = body["metadata"]
        return await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], subresource),
            body=body,
            content_type="application/apply-patch+yaml",
            query={
                "fieldManager": field_manager,
                "force": "true" if force else None,
                "dryRun": "All" if dry_run else None,
            },
        )

    async def merge_patch(
        self,
        res: Resource,
        name: str,
        patch: JSON,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> JSON:
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            body=patch,
            content_type="application/merge-patch+json",
            query={"fieldManager": field_manager},
        )

    async def json_patch(
        self,
        res: Resource,
        name: str,
        ops: builtins.list[JSON],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> JSON:
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            body=ops,
            content_type="application/json-patch+json",
        )

    async def replace(self, res: Resource, body: JSON, *, subresource: str | None = None) -> JSON:
        meta = body["metadata"]
        return await self.request("PUT", res.path(meta.get("namespace"), meta["name"], subresource), body=body)

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        missing_ok: bool = True,
        uid: str | None = None,
    ) -> JSON | None:
        """Deletes; with `uid`, only that incarnation of the object (409 Conflict otherwise)."""
        options: JSON = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            return await self.request("DELETE", res.path(namespace, name), body=options)
        except NotFound:
            if missing_ok:
                return None
            raise

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yields watch events ({type, object}); raises Gone when the resourceVersion expired.

        `on_open` is called once the API server has accepted the watch (before any event)."""
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
        }
        resp = await self._call(
            "GET",
            res.path(namespace),
            query=query,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30),
        )
        try:
            if resp.status != 200:
                text = await resp.text()
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    data = {}
                raise _error_for(resp.status, data if isinstance(data, dict) else {}, text)
            if on_open is not None:
                on_open()
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise _error_for(int(status.get("code") or 500), status, "")
                    yield event
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            raise ClusterUnavailable(f"watch on {res.plural} broke: {exc}") from exc
        finally:
            resp.release()


def owner_reference(owner: JSON, *, controller: bool = True) -> JSON:
    """An ownerReference that makes the garbage collector delete the child with its owner."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }
