"""Leader election on an in-memory Lease API and a clock the test moves: client-go's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import aiohttp
import pytest

from reactivejob.engine.elector import LeaderElection, LeaderElector
from reactivejob_api.aio import AsyncLeaseClient
from tests.unit.engine_fakes import FakeClock, FakeLeases

TIMEOUT = 10.0
NAME = "reactivejob-operator.batch.cs.sap.com"


class Replica:
    def __init__(
        self, identity: str, leases: FakeLeases, clock: FakeClock, renew_deadline: float = 10.0
    ) -> None:
        self.changes: list[bool] = []
        self.lost = asyncio.Event()
        config = LeaderElection(
            "ops", identity=identity, retry_period=0.01, renew_deadline=renew_deadline
        )
        self.elector = LeaderElector(
            cast(AsyncLeaseClient, leases), config, self.changes.append, self.lost.set, clock
        )
        self.task = asyncio.create_task(self.elector.run())


async def elected(
    identity: str, leases: FakeLeases, clock: FakeClock, renew_deadline: float = 10.0
) -> Replica:
    replica = Replica(identity, leases, clock, renew_deadline)
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


# What aiohttp raises when the API server is gone, restarting, or drops the connection: none of
# it is an ApiError, and before this was caught the elector's task ended with it.
TRANSPORT_ERRORS: list[Callable[[], Exception]] = [
    aiohttp.ServerDisconnectedError,
    lambda: aiohttp.ClientOSError(111, "Connect call failed"),
    lambda: ConnectionRefusedError(111, "Connection refused"),
    TimeoutError,
]


@pytest.mark.parametrize("error", TRANSPORT_ERRORS, ids=lambda e: type(e()).__name__)
def test_a_follower_keeps_campaigning_through_transport_errors(
    error: Callable[[], Exception],
) -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        first = await elected("a", leases, clock)
        second = Replica("b", leases, clock)
        await until(lambda: second.elector.taken_by_other)
        first.task.cancel()
        leases.broken = error  # the API server restarts
        await asyncio.sleep(0.1)
        assert not second.task.done()
        leases.broken = None
        clock.advance(16)  # the dead leader's Lease expires
        await until(second.elector.leading.is_set)
        assert leases.holder(NAME) == "b"
        second.task.cancel()

    run(scenario)


@pytest.mark.parametrize("error", TRANSPORT_ERRORS, ids=lambda e: type(e()).__name__)
def test_a_leader_cut_off_by_transport_errors_stops_at_the_renew_deadline(
    error: Callable[[], Exception],
) -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        leader = await elected("a", leases, clock)
        leases.broken = error
        clock.advance(9)
        await asyncio.sleep(0.1)
        assert not leader.task.done() and leader.elector.leading.is_set()
        clock.advance(1)
        await asyncio.wait_for(leader.lost.wait(), TIMEOUT)
        assert leader.changes == [True, False]

    run(scenario)


def test_a_renewal_that_hangs_is_cut_at_the_renew_deadline() -> None:
    """One HTTP call may take 30 s (the client's timeout) against a 10 s deadline: the attempt
    itself is bounded, so a leader on a silently dead connection stops in time."""

    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        leader = await elected("a", leases, clock, renew_deadline=0.3)
        leases.hanging = True
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(leader.lost.wait(), TIMEOUT)
        assert asyncio.get_running_loop().time() - started < 1.0
        assert leader.changes == [True, False]

    run(scenario)


def test_releasing_with_no_server_gives_up_within_the_renew_deadline() -> None:
    async def scenario() -> None:
        leases, clock = FakeLeases(), FakeClock()
        leader = await elected("a", leases, clock, renew_deadline=0.3)
        leader.task.cancel()
        leases.hanging = True
        await asyncio.wait_for(leader.elector.release(), 1.0)
        assert not leader.elector.leading.is_set()

    run(scenario)
