"""Inference providers behind one interface (base.py), their registry, rendering and installation state.
Anything in `kubefoundry` may import it. Registering a provider is adding its instance to `_REGISTERED` below.
"""

from __future__ import annotations

from .base import ChildStatus, EndpointInfo, HelmChart, InstallSpec, Provider
from .dynamo import DynamoProvider

DEFAULT_PROVIDER_ID = "dynamo"

_REGISTERED: tuple[Provider, ...] = (
    DynamoProvider(),
)  # fmt: skip

_BY_ID: dict[str, Provider] = {p.id: p for p in _REGISTERED}
if len(_BY_ID) != len(_REGISTERED):  # pragma: no cover - a programming error caught at import
    raise RuntimeError("two registered providers share an id")


class UnknownProvider(KeyError):
    """No provider is registered under this id."""

    def __init__(self, provider_id: str) -> None:
        super().__init__(provider_id)
        self.provider_id = provider_id

    def __str__(self) -> str:
        known = ", ".join(provider_ids())
        return f"unknown provider {self.provider_id!r} (known providers: {known})"


def get_provider(provider_id: str) -> Provider:
    try:
        return _BY_ID[provider_id]
    except KeyError:
        raise UnknownProvider(provider_id) from None


def all_providers() -> list[Provider]:
    """Every registered provider, in registration order."""
    return list(_REGISTERED)


def provider_ids() -> list[str]:
    return [p.id for p in _REGISTERED]


__all__ = [
    "DEFAULT_PROVIDER_ID",
    "ChildStatus",
    "EndpointInfo",
    "HelmChart",
    "InstallSpec",
    "Provider",
    "UnknownProvider",
    "all_providers",
    "get_provider",
    "provider_ids",
]
