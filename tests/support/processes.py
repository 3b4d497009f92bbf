"""Helpers for the end-to-end fixtures: the real processes (Rasa, the action server, the
gateway) as :class:`tools.stack.Service` objects, their ports, logs and the action
server's clock.

The fixtures themselves live in ``tests/conftest.py`` and ``tests/e2e/conftest.py``; they
and the tests import these helpers from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass

import pytest

from tools.stack import ROOT, Service, run_secrets

BOT_TOKEN = "123456:TEST"
LOG_DIR = ROOT / "var" / "log" / "tests"
READY_WITHIN = 240.0


def rasa_api_params() -> dict[str, str]:
    """Query parameters for Rasa's HTTP API (``/model/parse``, trackers): its auth token."""
    return {"token": run_secrets()["RASA_AUTH_TOKEN"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningService:
    """A started :class:`~tools.stack.Service` and the URL it answers on."""

    service: Service
    url: str

    async def stop(self) -> None:
        await self.service.stop()

    async def start(self) -> None:
        await self.service.start()
        await self.service.wait_ready(READY_WITHIN)

    async def restart(self, **env: str | None) -> None:
        """Restarts the process; ``env`` changes its environment (None removes a key)."""
        await self.service.stop()
        for key, value in env.items():
            if value is None:
                self.service.env.pop(key, None)
            else:
                self.service.env[key] = value
        await self.start()


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


async def exit_output(argv: list[str], env: dict[str, str], within: float = 90) -> str:
    """Runs a process that must end by itself with a failure (refuse to start, give up);
    returns what it printed. Fails the test if it keeps running or exits with 0."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=os.environ | env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        pytest.fail(f"{argv} kept running instead of stopping")
    assert process.returncode != 0
    return out.decode("utf-8", "replace")
