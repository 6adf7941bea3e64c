"""List-then-watch of one resource, forever: the informer loop the stand-in's controller runs per resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.kube import JSON

log = logging.getLogger(__name__)


async def watch_forever(
    kube: k.Kube,
    res: k.Resource,
    label_selector: str | None,
    on_object: Callable[[str, JSON], None],
    on_synced: Callable[[], None] | None = None,
    *,
    timeout_seconds: int,
) -> None:
    """List, then watch from the list's resourceVersion; relist after Gone or a broken connection."""
    rv: str | None = None
    backoff = 0.5
    missing = False  # the resource is not served (yet): warn once, then poll quietly
    while True:
        try:
            if rv is None:
                listing = await kube.list(res, label_selector=label_selector)
                rv = str(listing["metadata"]["resourceVersion"])
                if missing:
                    log.info("%s.%s is served now", res.plural, res.group)
                backoff, missing = 0.5, False
                for item in listing.get("items") or []:
                    on_object("LISTED", item)
                if on_synced is not None:
                    on_synced()
            async for event in kube.watch(
                res,
                resource_version=rv,
                label_selector=label_selector,
                timeout_seconds=timeout_seconds,
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
