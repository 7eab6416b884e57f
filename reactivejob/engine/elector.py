"""Lease-based leader election (coordination.k8s.io/v1), client-go's rules.

kopf's peering is not leader election (replicas of equal priority all pause), so several
replicas need this: one holds the Lease and reconciles; the others keep watching and serving
the webhook, and take the Lease over once it has not been renewed for ``lease_duration``. A
leader that cannot renew within ``renew_deadline`` stops acting at once (the process exits
and Kubernetes restarts it as a follower); on a clean shutdown it releases the Lease so a
successor does not have to wait for it to expire.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from reactivejob.core.objects import stamp
from reactivejob_api import AlreadyExists, Conflict, NotFound
from reactivejob_api.aio import AsyncLeaseClient
from reactivejob_api.models import Lease

from .clock import SYSTEM, Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderElection:
    namespace: str
    name: str = "reactivejob-operator.batch.cs.sap.com"  # the Go operator's LeaderElectionID
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    def __init__(
        self,
        leases: AsyncLeaseClient,
        config: LeaderElection,
        on_change: Callable[[bool], None],
        on_lost: Callable[[], None],
        clock: Clock = SYSTEM,
    ) -> None:
        self._clock = clock
        self.leases = leases
        self.config = config
        self.leading = asyncio.Event()
        self._on_change = on_change
        self._on_lost = on_lost
        # Expiry is judged by when *we* last saw the record change (our own clock), as
        # client-go does, so clock skew between replicas cannot cut a lease short.
        self._observed: tuple[tuple[str | None, str | None], datetime.datetime] | None = None
        self.taken_by_other = False

    async def run(self) -> None:
        """Campaign forever; while leading, renew; call ``on_lost`` if renewal fails."""
        last_renewal = self._clock.now()
        failing = False
        while True:
            self.taken_by_other = False
            # client-go bounds the whole renewal by renew_deadline, not each HTTP call by the
            # client's 30 s timeout: a leader on a dead connection must stop in time.
            elapsed = (self._clock.now() - last_renewal).total_seconds()
            budget = self.config.renew_deadline
            if self.leading.is_set():
                budget = max(budget - elapsed, 0.0)
            deadline = asyncio.timeout(budget)
            try:
                async with deadline:
                    held = await self._try_acquire_or_renew()
            except Exception as error:
                # A restarting API server raises ApiError, aiohttp's transport errors, OSError
                # and timeouts. None may end the campaign: a leader would act unrenewed, and a
                # follower would never campaign again.
                (log.debug if failing else log.warning)(
                    "lease %s: %s", self.config.name, _described(error)
                )
                failing, held = True, False
            else:
                failing = False
            now = self._clock.now()
            if held:
                last_renewal = now
                if not self.leading.is_set():
                    log.info("became leader (lease %s/%s)", self.config.namespace, self.config.name)
                    self.leading.set()
                    self._on_change(True)
            elif self.leading.is_set() and (
                self.taken_by_other
                or deadline.expired()
                or (now - last_renewal).total_seconds() >= self.config.renew_deadline
            ):
                log.error("lost the lease %s: stopping at once", self.config.name)
                self.leading.clear()
                self._on_change(False)
                self._on_lost()
                return
            await asyncio.sleep(self.config.retry_period)

    async def release(self) -> None:
        """Give the Lease up (clean shutdown), so a successor takes over without waiting."""
        if not self.leading.is_set():
            return
        try:
            async with asyncio.timeout(self.config.renew_deadline):
                lease = await self.leases.get(self.config.name, self.config.namespace)
                if lease.spec is not None and lease.spec.holder_identity == self.config.identity:
                    lease.spec.holder_identity = None
                    lease.spec.lease_duration_seconds = 1
                    await self.leases.replace(lease)
                    log.info("released the lease %s", self.config.name)
        except Exception as error:  # the Lease then expires on its own
            log.warning("could not release the lease %s: %s", self.config.name, _described(error))
        self.leading.clear()
        self._on_change(False)

    async def _try_acquire_or_renew(self) -> bool:
        config, now = self.config, self._clock.now()
        try:
            lease = await self.leases.get(config.name, config.namespace)
        except NotFound:
            try:
                await self.leases.create(self._new_lease(now))
            except AlreadyExists:
                return False
            return True
        spec = lease.spec
        assert spec is not None
        record = (spec.holder_identity, spec.renew_time)
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, now)
        mine = spec.holder_identity == config.identity
        age = (now - self._observed[1]).total_seconds()
        if not mine and spec.holder_identity and age <= (spec.lease_duration_seconds or 0):
            self.taken_by_other = True
            return False
        if not mine:
            spec.holder_identity = config.identity
            spec.acquire_time = stamp(now, micro=True)
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        spec.renew_time = stamp(now, micro=True)
        spec.lease_duration_seconds = int(config.lease_duration)
        try:
            await self.leases.replace(lease)  # carries resourceVersion: a race loses with 409
        except Conflict:
            self.taken_by_other = not mine
            return False
        return True

    def _new_lease(self, now: datetime.datetime) -> Lease:
        return Lease.model_validate(
            {
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": {
                    "holderIdentity": self.config.identity,
                    "leaseDurationSeconds": int(self.config.lease_duration),
                    "acquireTime": stamp(now, micro=True),
                    "renewTime": stamp(now, micro=True),
                    "leaseTransitions": 0,
                },
            }
        )


def _described(error: Exception) -> str:
    """aiohttp's errors and TimeoutError often have an empty str()."""
    return str(error) or type(error).__name__
