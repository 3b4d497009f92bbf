"""Fixtures shared by the end-to-end modules (the processes themselves: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import RunningService

_UNKNOWN = object()


class ActionClock:
    """Sets the action server's ``ASSISTANT_NOW``, restarting it only when the value changes.

    ``None`` is real time, the state every module starts and ends in.
    """

    def __init__(self, action_server: RunningService) -> None:
        self._server = action_server
        self._now: object = None

    async def set(self, now: str | None) -> None:
        if now == self._now:
            return
        self._now = _UNKNOWN  # a restart that fails leaves the clock unknown, so reset again
        await self._server.restart(ASSISTANT_NOW=now)
        self._now = now


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
