"""Fixtures shared by the end-to-end modules (the processes themselves: tests/conftest.py;
their helpers: tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.processes import ActionClock, RunningService


@pytest.fixture(scope="module")
async def action_clock(action_server: RunningService) -> AsyncIterator[ActionClock]:
    """The action server's clock for one module; real time again once the module is done.

    Tests ask for a clock with ``await action_clock.set("2023-12-31T10:00:00+03:00")``;
    written in clock order, a module restarts the action server once per clock, plus once
    at the end to restore real time for the next module.
    """
    clock = ActionClock(action_server)
    try:
        yield clock
    finally:
        await clock.set(None)
