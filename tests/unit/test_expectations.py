"""Expectations: a key is not acted on until the cache shows the operator's own last writes to
it (client-go's), and an expectation the cache never meets is dropped after a while."""

from __future__ import annotations

from reactivejob.engine.cache import CachedReactiveJob, reactive_job_entry
from reactivejob.engine.executor import EXPECTATION_TIMEOUT, Expectations
from tests.samples import reactive_job, simple_template
from tests.unit.engine_fakes import FakeClock

KEY = ("team-a", "migrate")


def entry(resource_version: str) -> CachedReactiveJob:
    body = reactive_job("migrate", simple_template(), "team-a")
    body["metadata"].update(resourceVersion=resource_version, generation=1)
    return reactive_job_entry(body)


def test_a_status_write_is_waited_for_until_the_cache_shows_its_version() -> None:
    expectations = Expectations(FakeClock())
    assert expectations.met(KEY, entry("9"), {})  # nothing written: act
    expectations.wrote(KEY, "12")
    assert not expectations.met(KEY, entry("11"), {})  # the cache is behind our write
    assert expectations.met(KEY, entry("12"), {})
    assert expectations.met(KEY, entry("11"), {})  # met once, forgotten: no re-check


def test_a_created_job_is_waited_for_until_the_cache_holds_it() -> None:
    expectations = Expectations(FakeClock())
    expectations.created(KEY, "migrate-b2c4d")
    assert not expectations.met(KEY, entry("1"), {"migrate-old": "5"})
    assert expectations.met(KEY, entry("1"), {"migrate-old": "5", "migrate-b2c4d": "6"})


def test_an_expectation_the_cache_never_meets_is_dropped_after_the_timeout() -> None:
    clock = FakeClock()
    expectations = Expectations(clock)
    expectations.wrote(KEY, "12")
    expectations.created(KEY, "migrate-b2c4d")
    clock.advance(EXPECTATION_TIMEOUT - 1)
    assert not expectations.met(KEY, entry("3"), {})
    clock.advance(2)
    assert expectations.met(KEY, entry("3"), {})  # the object went away meanwhile


def test_a_version_that_is_not_a_number_sets_no_expectation_and_forget_drops_all() -> None:
    expectations = Expectations(FakeClock())
    expectations.wrote(KEY, None)
    expectations.wrote(KEY, "")
    assert expectations.met(KEY, entry("1"), {})
    expectations.wrote(KEY, "50")
    expectations.created(KEY, "migrate-b2c4d")
    expectations.forget(KEY)  # the ReactiveJob is gone
    assert expectations.met(KEY, entry("1"), {})


def test_a_resumed_job_is_waited_for_until_the_cache_shows_our_write() -> None:
    # Its status event may come first: acting then would see it still held and resume it again
    # (or, under Forbid, count it as not running yet).
    expectations = Expectations(FakeClock())
    expectations.wrote_job(KEY, "migrate-b2c4d", "40")
    assert not expectations.met(KEY, entry("1"), {"migrate-b2c4d": "39"})
    assert expectations.met(KEY, entry("1"), {"migrate-b2c4d": "40"})
    expectations.wrote_job(KEY, "migrate-b2c4d", None)  # nothing was changed: nothing to wait for
    assert expectations.met(KEY, entry("1"), {"migrate-b2c4d": "39"})
