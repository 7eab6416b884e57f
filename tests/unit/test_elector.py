"""Leader election on an in-memory Lease API and a clock the test moves: client-go's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

from reactivejob.engine.elector import LeaderElection, LeaderElector
from reactivejob_api.aio import AsyncLeaseClient
from tests.unit.engine_fakes import FakeClock, FakeLeases

TIMEOUT = 10.0
NAME = "reactivejob-operator.batch.cs.sap.com"


class Replica:
    def __init__(self, identity: str, leases: FakeLeases, clock: FakeClock) -> None:
        self.changes: list[bool] = []
        self.lost = asyncio.Event()
        config = LeaderElection("ops", identity=identity, retry_period=0.01)
        self.elector = LeaderElector(
            cast(AsyncLeaseClient, leases), config, self.changes.append, self.lost.set, clock
        )
        self.task = asyncio.create_task(self.elector.run())


async def elected(identity: str, leases: FakeLeases, clock: FakeClock) -> Replica:
    replica = Replica(identity, leases, clock)
    await until(replica.elector.leading.is_set)
    return replica


async def until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), TIMEOUT)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_the_first_replica_takes_the_lease_and_the_second_waits_for_it_to_expire() -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        first = await elected("a", leases, clock)
        second = Replica("b", leases, clock)
        await until(lambda: second.elector.taken_by_other)
        first.task.cancel()  # the leader dies without releasing: its Lease must expire
        clock.advance(14)  # within the 15 s lease duration, by the follower's own clock
        await asyncio.sleep(0.1)
        assert leases.holder(NAME) == "a" and not second.elector.leading.is_set()
        clock.advance(2)
        await until(second.elector.leading.is_set)
        assert leases.holder(NAME) == "b" and second.changes == [True]
        assert leases.stored[NAME]["spec"]["leaseTransitions"] == 1
        second.task.cancel()

    run(scenario)


def test_a_leader_that_cannot_renew_within_the_renew_deadline_stops_at_once() -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        leader = await elected("a", leases, clock)
        leases.down = True  # every renewal fails from now on
        clock.advance(9)  # still within the 10 s renew deadline: it keeps leading
        await asyncio.sleep(0.1)
        assert not leader.lost.is_set() and leader.elector.leading.is_set()
        clock.advance(1)
        await asyncio.wait_for(leader.lost.wait(), TIMEOUT)
        assert leader.changes == [True, False] and not leader.elector.leading.is_set()
        assert leader.task.done()  # it takes no further step

    run(scenario)


def test_a_released_lease_is_taken_over_without_waiting_for_it_to_expire() -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        first = await elected("a", leases, clock)
        first.task.cancel()
        await first.elector.release()  # a clean shutdown
        assert leases.holder(NAME) is None
        second = Replica("b", leases, clock)
        await until(second.elector.leading.is_set)  # no clock advance needed
        second.task.cancel()

    run(scenario)
