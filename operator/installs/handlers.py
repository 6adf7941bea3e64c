"""kopf handlers for ProviderInstall: install, upgrade and uninstall a provider with the real helm.

- create / spec update: `helm upgrade --install` of every chart the spec's version needs
  (apply.py);
- delete, behind the finalizer: `helm uninstall` of the provider's releases, CRDs kept unless asked
  (uninstall.py);
- a daemon per object keeps installed / crdInstalled / operatorInstalled / version and the Installed and
  Ready conditions truthful (monitor.py).

Registration: importing this module registers the handlers in kopf's default registry (as
`python -m kubefoundry.operator` expects); `register(registry)` registers them in another one.
`runtime.instance.configure(settings)` sets the finalizer and kopf's bookkeeping annotations.
ProviderInstall is cluster-scoped: kopf serves it only when the operator runs cluster-wide.
`python -m kubefoundry.operator.installs.handlers` runs these handlers alone (tests, development).

Helm settings (environment): $KUBEFOUNDRY_HELM (binary; else `helm` on PATH), $KUBEFOUNDRY_LOCAL_CHART_ROOTS
(directories local chart sources may lie under), $KUBEFOUNDRY_HELM_TIMEOUT_SECONDS; retry and polling knobs
in timing.py.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..models.common import GROUP, VERSION
from ..models.providerinstall import PLURAL
from ..runtime import kube as k
from ..runtime.instance import configure, label_filter
from ..runtime.transient import temporary
from .apply import reconcile
from .monitor import monitor
from .uninstall import uninstall


def _kube(memo: Any) -> k.Kube:
    kube: k.Kube = memo.providerinstall_kube
    return kube


async def providerinstall_startup(memo: kopf.Memo, **_: Any) -> None:
    memo.providerinstall_kube = await k.Kube.connect()


async def providerinstall_cleanup(memo: kopf.Memo, **_: Any) -> None:
    kube = getattr(memo, "providerinstall_kube", None)
    if kube is not None:
        await kube.close()


async def providerinstall_apply(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    with temporary():
        await reconcile(_kube(memo), dict(body), retry)


async def providerinstall_delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    with temporary():
        await uninstall(_kube(memo), dict(body), retry)


async def providerinstall_monitor(name: str, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    await monitor(_kube(memo), name, stopped)


_registered: list[kopf.OperatorRegistry] = []


def register(registry: kopf.OperatorRegistry) -> None:
    """Registers the ProviderInstall handlers in `registry` (once per registry)."""
    if any(r is registry for r in _registered):
        return
    _registered.append(registry)
    labels = label_filter()
    kopf.on.startup(registry=registry, id="providerinstall-startup")(providerinstall_startup)
    kopf.on.cleanup(registry=registry, id="providerinstall-cleanup")(providerinstall_cleanup)
    kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="helm-apply", labels=labels)(providerinstall_apply)
    kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, id="helm-apply", field="spec", labels=labels)(
        providerinstall_apply
    )
    kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="helm-uninstall", labels=labels)(
        providerinstall_delete
    )
    kopf.daemon(
        GROUP, VERSION, PLURAL, registry=registry, id="install-monitor", cancellation_timeout=5.0, labels=labels
    )(providerinstall_monitor)


register(kopf.get_default_registry())


def main() -> None:
    """Runs only these handlers, cluster-wide (tests and development).

    python -m kubefoundry.operator.installs.handlers
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @kopf.on.startup(id="providerinstall-configure")
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)

    kopf.run(clusterwide=True, standalone=True)


if __name__ == "__main__":
    main()
