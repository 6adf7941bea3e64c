"""Leader election over a coordination.k8s.io Lease: several operator replicas may run, one acts.

The rules are client-go's leaderelection: a candidate takes the Lease when nobody holds it, when it holds
it already, or when the record it last saw (holder, renewTime) has stayed the same for the Lease's
duration by the candidate's own clock, so no two machines' clocks are compared. The leader renews every
retry period and counts itself deposed when it has not renewed within the renew deadline; a leader
that stops cleanly releases the Lease so a standby takes over at once instead of after the duration.
Writes carry the Lease's resourceVersion, so of two candidates racing for a free Lease one wins.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import kube as k

log = logging.getLogger(__name__)

LEASES = k.Resource("coordination.k8s.io", "v1", "leases", "Lease")


class LeadershipLost(Exception):
    """Another replica holds the Lease, or it was not renewed within the renew deadline (one may soon)."""


@dataclass(frozen=True)
class LeaseTiming:
    """controller-runtime's defaults: a dead leader is replaced within about 15 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


def default_identity() -> str:
    # In a pod the hostname is the pod's name; the suffix tells two processes on one host apart.
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: k.Kube,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing or LeaseTiming()
        self._clock = clock
        self._observed: tuple[str | None, object, float] | None = None  # holder, renewTime, duration
        self._observed_at = 0.0
        self._renewed_at = 0.0  # when the last successful acquire or renew began

    async def acquire(self) -> None:
        """Returns once this process holds the Lease."""
        announced: object = None
        while True:
            try:
                started = self._clock()
                if await self.try_acquire_or_renew():
                    self._renewed_at = started
                    log.info("leader election: %s now leads (lease %s/%s)", self.identity, self.namespace, self.name)
                    return
                if self.holder != announced:
                    log.info(
                        "leader election: standing by; %s holds lease %s/%s", self.holder, self.namespace, self.name
                    )
                    announced = self.holder
            except (k.KubeError, k.ClusterUnavailable) as exc:
                log.warning("leader election: cannot reach the lease %s/%s: %s", self.namespace, self.name, exc)
            await asyncio.sleep(self.timing.retry_period * random.uniform(1.0, 1.2))

    async def hold(self) -> None:
        """Renews the Lease until cancelled. Raises LeadershipLost as soon as another holder is seen, or when
        no renewal has succeeded within the renew deadline (counted from when the last good attempt began,
        so a standby, which waits the longer lease duration, cannot take over while this one still acts)."""
        while True:
            await asyncio.sleep(min(self.timing.retry_period, max(self._remaining(), 0.0)))
            remaining = self._remaining()
            if remaining <= 0:
                deadline = self.timing.renew_deadline
                raise LeadershipLost(f"lease {self.namespace}/{self.name} not renewed within {deadline}s")
            started = self._clock()
            try:
                async with asyncio.timeout(remaining):  # no extra task: kopf's shutdown would cancel it as hung
                    renewed = await self.try_acquire_or_renew()
            except (k.KubeError, k.ClusterUnavailable, TimeoutError) as exc:
                log.warning("leader election: renewing lease %s/%s failed: %s", self.namespace, self.name, exc)
                continue
            if renewed:
                self._renewed_at = started
            elif self.holder not in (None, self.identity):
                raise LeadershipLost(f"lease {self.namespace}/{self.name} is now held by {self.holder}")

    @property
    def holder(self) -> str | None:
        """The holder seen on the Lease at the last attempt."""
        return self._observed[0] if self._observed else None

    def _remaining(self) -> float:
        return self.timing.renew_deadline - (self._clock() - self._renewed_at)

    async def release(self) -> None:
        """Gives the Lease up (if still ours) so a standby need not wait for it to expire."""
        try:
            lease = await self.kube.get_or_none(LEASES, self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = dict(lease["spec"])
            spec.pop("holderIdentity", None)
            spec.update(leaseDurationSeconds=1, renewTime=_micro_time())
            await self.kube.replace(LEASES, {**lease, "spec": spec})
            log.info("leader election: %s released lease %s/%s", self.identity, self.namespace, self.name)
        except (k.KubeError, k.ClusterUnavailable) as exc:
            log.warning("leader election: releasing lease %s/%s failed: %s", self.namespace, self.name, exc)

    async def try_acquire_or_renew(self) -> bool:
        now = _micro_time()
        lease = await self.kube.get_or_none(LEASES, self.name, self.namespace)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(acquire_time=now, renew_time=now, transitions=0),
            }
            try:
                await self.kube.create(LEASES, body, self.namespace)
            except k.Conflict:  # another candidate created it first
                return False
            self._observe(self.identity, now, self.timing.lease_duration)
            return True

        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or None
        duration = float(spec.get("leaseDurationSeconds") or self.timing.lease_duration)
        self._observe(holder, spec.get("renewTime"), duration)
        ours = holder == self.identity
        if holder and not ours and self._clock() - self._observed_at < duration:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        acquired = spec.get("acquireTime") if ours else now
        new_spec = self._spec(acquire_time=acquired or now, renew_time=now, transitions=transitions)
        try:
            await self.kube.replace(LEASES, {**lease, "spec": new_spec})  # carries resourceVersion
        except k.Conflict:  # someone else wrote it since we read it
            return False
        self._observe(self.identity, now, self.timing.lease_duration)
        return True

    def _spec(self, *, acquire_time: str, renew_time: str, transitions: int) -> k.JSON:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timing.lease_duration)),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _observe(self, holder: str | None, renew_time: object, duration: float) -> None:
        record = (holder, renew_time, duration)
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()
