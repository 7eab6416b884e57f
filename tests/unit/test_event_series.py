"""Event aggregation as client-go's recorder does it: the same happening on the same object
again bumps the first Event's series instead of making another object, within a window."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from reactivejob.core.decide import Event as Happening
from reactivejob.engine.events import EventRecorder
from reactivejob_api import ReactiveJob
from reactivejob_api.aio import AsyncEventClient
from tests.samples import reactive_job, simple_template
from tests.unit.engine_fakes import FakeClock, FakeEvents

FAILED = Happening("Warning", "JobFailed", "Job migrate-b2c4d: BackoffLimitExceeded")


def regarding() -> ReactiveJob:
    body = reactive_job("migrate", simple_template(), "team-a")
    body["metadata"].update(uid="u-1", resourceVersion="7")
    return ReactiveJob.model_validate(body)


def post(events: FakeEvents, clock: FakeClock, steps: list[Any]) -> None:
    """Record each happening, advance the clock by a number of seconds, or call a function;
    then drain the recorder's queue."""

    async def scenario() -> None:
        recorder = EventRecorder(cast(AsyncEventClient, events), "replica-1", clock)
        recorder.start()
        for step in steps:
            if isinstance(step, Happening):
                recorder.record(regarding(), step)
                continue
            await asyncio.sleep(0.05)  # the poster task takes what is queued so far
            if callable(step):
                step()
            else:
                clock.advance(step)
        await asyncio.sleep(0.05)
        await recorder.stop()

    asyncio.run(scenario())


def test_a_repeated_happening_bumps_the_series_of_the_first_event() -> None:
    events, clock = FakeEvents(), FakeClock()
    post(events, clock, [FAILED, 1, FAILED, 1, FAILED])
    assert len(events.created) == 1
    first = events.created[0]
    assert (first.type, first.reason, first.note) == ("Warning", "JobFailed", FAILED.message)
    assert first.regarding is not None and first.regarding.uid == "u-1"
    assert first.reporting_instance == "replica-1"
    assert first.metadata is not None and first.metadata.name is not None
    assert [name for name, _ in events.patches] == [first.metadata.name] * 2
    assert [p["series"]["count"] for _, p in events.patches] == [2, 3]
    assert events.patches[-1][1]["series"]["lastObservedTime"] == "2026-12-06T12:00:02.000000Z"


def test_another_reason_or_a_series_past_its_window_is_a_new_event() -> None:
    events, clock = FakeEvents(), FakeClock()
    succeeded = Happening("Normal", "JobSucceeded", "Job migrate-x: done")
    post(events, clock, [FAILED, succeeded, 601, FAILED])
    assert [e.reason for e in events.created] == ["JobFailed", "JobSucceeded", "JobFailed"]
    assert events.patches == []


def test_a_series_whose_event_the_server_removed_starts_a_new_event() -> None:
    events, clock = FakeEvents(), FakeClock()

    def expire() -> None:  # the server's Event TTL removed the first one
        events.expired.update(str(e.metadata.name) for e in events.created if e.metadata)

    post(events, clock, [FAILED, expire, FAILED, 1, FAILED])
    assert len(events.created) == 2
    second = events.created[1].metadata
    assert second is not None and events.patches == [(second.name, events.patches[0][1])]
    assert events.patches[0][1]["series"]["count"] == 2  # the new series goes on counting


def test_a_long_note_is_cut_to_the_servers_1024_bytes_never_inside_a_character() -> None:
    events, clock = FakeEvents(), FakeClock()
    said = "Job migrate-x: BackoffLimitExceeded: " + "é" * 600  # 1237 bytes of UTF-8
    post(events, clock, [Happening("Warning", "JobFailed", said)])
    note = events.created[0].note
    assert note is not None and said.startswith(note)
    assert 1023 <= len(note.encode()) <= 1024
