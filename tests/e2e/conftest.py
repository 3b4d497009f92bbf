"""Fixtures shared by the end-to-end modules (the processes themselves: tests/conftest.py;
their helpers: tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from tests.support.fakes import SMS_PATH, STATUS_NOW, FakeSmsGateway
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


# --- status checks with one-time codes (test_status.py, test_typed_answers.py) ---------


@pytest.fixture(scope="module")
def sms_gateway() -> FakeSmsGateway:
    return FakeSmsGateway()


@pytest.fixture(scope="module")
async def sms_server(sms_gateway: FakeSmsGateway) -> AsyncIterator[TestServer]:
    """The fake SMS gateway on 127.0.0.1, one server for the whole module.

    Not pytest-aiohttp's ``aiohttp_server``: that fixture is function-scoped, and the
    action server reads the gateway's URL from its environment when it starts, so a new
    server per test would mean restarting the action server per test (seconds each).
    This is the same ``aiohttp.test_utils.TestServer`` that ``aiohttp_server`` starts;
    ``fresh_texts`` empties its record before each test, so no test sees another's texts.
    """
    async with TestServer(sms_gateway.app(), host="127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
async def status_stack(action_server, sms_server, gateway, telegram) -> AsyncIterator[str]:
    """The action server and the gateway (which texts the codes) with the fake SMS gateway
    and a date before the deadline (``STATUS_NOW``); put back as they were afterwards."""
    env = {
        "SMS_GATEWAY_URL": str(sms_server.make_url(SMS_PATH)),
        "SMS_USERNAME": "sandbox",
        "SMS_API_KEY": "test-key",
        "ASSISTANT_NOW": STATUS_NOW,
    }
    gateway_env = {**env, "SMS_OUTBOX_INTERVAL_SECONDS": "0.2"}
    await action_server.restart(**env)
    await gateway.restart(**gateway_env)
    await telegram.wait_until_polling(timeout=60)
    yield env["SMS_GATEWAY_URL"]
    await action_server.restart(**dict.fromkeys(env))
    await gateway.restart(**dict.fromkeys(gateway_env))
    await telegram.wait_until_polling(timeout=60)
