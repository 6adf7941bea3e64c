"""Who is calling, and may they? Kubernetes decides (optional: `--auth kubernetes`).

With authentication on, every operation but the public ones (health, the OpenAPI document) needs
`Authorization: Bearer <token>`: a token the cluster accepts (a ServiceAccount token, an OIDC id token
the API server trusts, ...). The API asks the API server who it belongs to (TokenReview) and whether
that user may do what the operation does (SubjectAccessReview), with the same verbs, resources and
namespaces as `kubectl` would need: whoever may `kubectl create kfd -n team-a` may POST a deployment
into team-a, and nobody else. The API then acts with its own ServiceAccount, as before.

Tokens are never logged or stored; answers are cached for a few seconds under the token's SHA-256.
The API's ServiceAccount needs `system:auth-delegator` (tokenreviews and subjectaccessreviews create).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubefoundry.operator import kube as k

from .errors import ApiError, Code

TOKEN_REVIEWS = k.Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False)
ACCESS_REVIEWS = k.Resource(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kubefoundry"'}


@dataclass(frozen=True)
class Permission:
    """What `kubectl` would need: a verb on a resource, in a namespace (None: cluster-wide)."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in namespace {self.namespace}" if self.namespace else " across the cluster"
        named = f" {self.name!r}" if self.name else ""
        return f"{self.verb} {what}{named}{where}"


@dataclass(frozen=True)
class User:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


class _TtlCache:
    def __init__(self, ttl: float, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._items) >= self.size:
            now = time.monotonic()
            self._items = {k_: v for k_, v in self._items.items() if v[0] >= now}
            if len(self._items) >= self.size:
                self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)


class KubernetesAuth:
    def __init__(self, kube: k.Kube, token_ttl: float = 30.0, decision_ttl: float = 10.0) -> None:
        self.kube = kube
        self._users = _TtlCache(token_ttl)
        self._decisions = _TtlCache(decision_ttl)

    async def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                Code.UNAUTHENTICATED, "Send a Kubernetes token: Authorization: Bearer <token>", headers=CHALLENGE
            )
        key = hashlib.sha256(token.encode()).hexdigest()
        user = self._users.get(key)
        if user is None:
            review = await self.kube.create(
                TOKEN_REVIEWS,
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
            )
            status = review.get("status") or {}
            if not status.get("authenticated"):
                raise ApiError(Code.UNAUTHENTICATED, "The cluster does not accept this token", headers=CHALLENGE)
            info = status.get("user") or {}
            user = User(
                username=str(info.get("username") or ""),
                uid=str(info.get("uid") or ""),
                groups=tuple(info.get("groups") or ()),
                extra={str(k_): list(v) for k_, v in (info.get("extra") or {}).items()},
            )
            self._users.put(key, user)
        return user  # type: ignore[no-any-return]

    async def authorize(self, user: User, wanted: Sequence[Permission]) -> None:
        for permission in wanted:
            key = (user.username, user.uid, user.groups, permission)
            decision = self._decisions.get(key)
            if decision is None:
                attributes: dict[str, Any] = {
                    "verb": permission.verb,
                    "group": permission.group,
                    "resource": permission.resource,
                }
                if permission.namespace:
                    attributes["namespace"] = permission.namespace
                if permission.name:
                    attributes["name"] = permission.name
                spec = {
                    "user": user.username,
                    "uid": user.uid,
                    "groups": list(user.groups),
                    "extra": user.extra,
                    "resourceAttributes": attributes,
                }
                review = await self.kube.create(
                    ACCESS_REVIEWS,
                    {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec},
                )
                status = review.get("status") or {}
                decision = (bool(status.get("allowed")), str(status.get("reason") or ""))
                self._decisions.put(key, decision)
            allowed, reason = decision
            if not allowed:
                because = f" ({reason})" if reason else ""
                raise ApiError(
                    Code.FORBIDDEN,
                    f"{user.username} may not {permission.describe()}{because}",
                    [{"field": "", "message": permission.describe(), "type": "forbidden"}],
                )


AUTH: web.AppKey[KubernetesAuth] = web.AppKey("kubefoundry_auth", KubernetesAuth)
