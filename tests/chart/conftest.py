"""The chart tier: tests that need only helm. They render the chart and start no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.rendering import helm  # noqa: F401 (the fixture, for every chart test)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.chart)
