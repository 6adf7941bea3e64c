"""Reading and writing ProviderInstall objects: the resource, its parsed spec, status updates, Events."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any, cast

import kopf
from pydantic import ValidationError

from ..models.providerinstall import R_INVALID_SPEC, R_UNKNOWN_PROVIDER, RESOURCE, ProviderInstallSpec
from ..providers import Provider, UnknownProvider, get_provider
from ..runtime import helm
from ..runtime import kube as k
from .status import Mutator, derive_ready, desired_version

log = logging.getLogger(__name__)

FIELD_MANAGER = "kubefoundry-providerinstall"


class InvalidSpec(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_spec(name: str, raw_spec: Any) -> tuple[Provider, ProviderInstallSpec]:
    """The provider and spec of ProviderInstall `name`; InvalidSpec (with a status reason) if unusable."""
    try:
        spec = ProviderInstallSpec.model_validate(dict(raw_spec or {}))
    except ValidationError as exc:
        raise InvalidSpec(R_INVALID_SPEC, f"invalid spec: {exc}") from None
    if spec.provider != name:
        raise InvalidSpec(R_INVALID_SPEC, f"metadata.name ({name}) must equal spec.provider ({spec.provider})")
    try:
        provider = get_provider(spec.provider)
    except UnknownProvider as exc:
        raise InvalidSpec(R_UNKNOWN_PROVIDER, str(exc)) from None
    return provider, spec


def generation_of(obj: k.JSON) -> int:
    return int(obj["metadata"].get("generation") or 0)


async def update_status(kube: k.Kube, name: str, mutate: Mutator) -> k.JSON | None:
    """Read-modify-write of status with the object's resourceVersion as precondition (retried on conflict).

    The handlers and the monitor daemon all write status; the precondition keeps any of them from
    overwriting another's conditions. Returns the new status (None if the object is gone).
    """
    for _ in range(8):
        obj = await kube.get_or_none(RESOURCE, name)
        if obj is None:
            return None
        old = obj.get("status") or {}
        new = copy.deepcopy(old)
        mutate(new, obj)
        derive_ready(new, generation_of(obj), desired_version(obj))
        if new == old:
            return new
        patch: k.JSON = {key: None for key in old if key not in new}
        patch.update(new)
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
        try:
            await kube.merge_patch(RESOURCE, name, body, subresource="status", field_manager=FIELD_MANAGER)
        except k.Conflict:
            await asyncio.sleep(0.05)
            continue
        except k.NotFound:
            return None
        return new
    raise kopf.TemporaryError(f"could not update the status of ProviderInstall {name}: conflicts", delay=1)


def emit_event(obj: k.JSON, type_: str, reason: str, message: str) -> None:
    try:
        kopf.event(cast(kopf.Body, obj), type=type_, reason=reason, message=helm.trim(message, 1024))
    except LookupError:  # outside a kopf context (direct calls in tests)
        log.info("event %s %s: %s", type_, reason, message)


def describe_release(rel: helm.Release) -> str:
    return f"release {rel.name} in {rel.namespace} is {rel.status} (revision {rel.revision}, updated {rel.updated})"
