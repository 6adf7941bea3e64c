"""Who is calling, and may they? Kubernetes decides (optional: `--auth kubernetes`).

With authentication on, every operation but the public ones (health, the OpenAPI document) needs
`Authorization: Bearer <token>`: a token the cluster accepts (a ServiceAccount token, an OIDC id token
the API server trusts, ...). The API asks the API server who it belongs to (TokenReview) and whether
that user may do what the operation does (SubjectAccessReview), with the same verbs, resources and
namespaces as `kubectl` would need: whoever may `kubectl create kfd -n team-a` may POST a deployment
into team-a, and nobody else. The API then acts with its own ServiceAccount, as before.

Tokens are never logged or stored; answers (rejections too) are cached for seconds under the token's SHA-256.
The API's ServiceAccount needs `system:auth-delegator` (tokenreviews and subjectaccessreviews create).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from kubefoundry.operator.runtime import kube as k

from .errors import ApiError, Code

log = logging.getLogger(__name__)

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
    """A bounded cache whose entries expire; the least recently used go first when it is full."""

    def __init__(self, ttl: float, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        self._items[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class KubernetesAuth:
    def __init__(
        self, kube: k.Kube, token_ttl: float = 30.0, decision_ttl: float = 10.0, rejected_ttl: float = 10.0
    ) -> None:
        self.kube = kube
        self.rejected_ttl = rejected_ttl
        self._users = _TtlCache(token_ttl)
        self._decisions = _TtlCache(decision_ttl)
        # One review in flight per token or question: a burst of equal requests costs the API server one call.
        self._pending: dict[Any, asyncio.Future[Any]] = {}

    async def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                Code.UNAUTHENTICATED, "Send a Kubernetes token: Authorization: Bearer <token>", headers=CHALLENGE
            )
        key = ("token", hashlib.sha256(token.encode()).hexdigest())
        user = self._users.get(key)
        if user is None:
            user = await self._once(key, functools.partial(self._review_token, token))
            # Rejected tokens are remembered too (briefly), so that retrying one costs the API server nothing.
            self._users.put(key, user, None if user else self.rejected_ttl)
        if not user:
            raise ApiError(Code.UNAUTHENTICATED, "The cluster does not accept this token", headers=CHALLENGE)
        return user  # type: ignore[no-any-return]

    async def authorize(self, user: User, wanted: Sequence[Permission]) -> None:
        for permission in wanted:
            key = ("access", user.username, user.uid, user.groups, _frozen(user.extra), permission)
            decision = self._decisions.get(key)
            if decision is None:
                decision = await self._once(key, functools.partial(self._review_access, user, permission))
                self._decisions.put(key, decision)
            allowed, reason = decision
            if not allowed:
                because = f" ({reason})" if reason else ""
                raise ApiError(
                    Code.FORBIDDEN,
                    f"{user.username} may not {permission.describe()}{because}",
                    {"reason": "rbac_denied", "permission": asdict(permission)},
                )

    async def _once(self, key: Any, review: Callable[[], Awaitable[Any]]) -> Any:
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(review())
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _review_token(self, token: str) -> User | bool:
        """The user the token belongs to, or False if the cluster rejects it."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        status = (await self._review(TOKEN_REVIEWS, body)).get("status") or {}
        if not status.get("authenticated"):
            return False
        info = status.get("user") or {}
        return User(
            username=str(info.get("username") or ""),
            uid=str(info.get("uid") or ""),
            groups=tuple(info.get("groups") or ()),
            extra={str(k_): list(v) for k_, v in (info.get("extra") or {}).items()},
        )

    async def _review_access(self, user: User, permission: Permission) -> tuple[bool, str]:
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
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        status = (await self._review(ACCESS_REVIEWS, body)).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    async def _review(self, resource: k.Resource, body: k.JSON) -> k.JSON:
        try:
            return await self.kube.create(resource, body)
        except k.KubeError as exc:
            # The API's own rights or credentials, not the caller's: say so without the API server's words.
            log.error("%s failed: %s (does the API's ServiceAccount have system:auth-delegator?)", resource.kind, exc)
            raise ApiError(
                Code.KUBERNETES_ERROR, "The API cannot check credentials with the cluster; see the API's log"
            ) from None


def _frozen(extra: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((key, tuple(values)) for key, values in extra.items()))


AUTH: web.AppKey[KubernetesAuth] = web.AppKey("kubefoundry_auth", KubernetesAuth)
