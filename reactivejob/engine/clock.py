"""The time, injected where the engine judges it (expectations, Event series, the Lease), as
client-go injects its clock "so tests can manipulate time"."""

from __future__ import annotations

import datetime
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime.datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)


SYSTEM = SystemClock()
