"""Helpers for the durable-conversation tests (tests/e2e/test_durable.py): Rasa servers of
their own, a folder that can be moved away from SQLite, the tracker rows as SQL sees them.
A database or Redis is cut off by the one TCP proxy of the tests (tests/support/tcp_proxy.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ntsa_assistant.storage.engine import create_engine
from tests.support.processes import LOG_DIR, RunningService, free_port
from tests.support.tcp_proxy import TcpProxy
from tools.stack import RASA_READY_PATH, RASA_VENV, ROOT, Service, rasa_service

PROBE = Path(__file__).with_name("rasa_tracker_probe.py")


class FolderAway:
    """An SQLite database made unreachable by moving its folder away (and back)."""

    def __init__(self, database: Path) -> None:
        self.folder = database.parent
        self._away = self.folder.with_name(self.folder.name + "-away")

    async def cut(self) -> None:
        self.folder.rename(self._away)

    async def restore(self) -> None:
        if self._away.exists():
            self._away.rename(self.folder)


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    return proxy.url(url)


@dataclass
class DurableRasa:
    """A Rasa server of the test module's own, and where its conversations are stored."""

    backend: str
    running: RunningService
    tracker_url: str  # as the test reads it (not through the proxy)
    tracker_outage: TcpProxy | FolderAway
    redis_outage: TcpProxy

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def service(self) -> Service:
        return self.running.service

    async def crash_and_restart(self) -> None:
        """SIGKILL to Rasa (and its workers): nothing is flushed, nothing said goodbye."""
        process = self.service.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        await self.running.start()


@contextlib.asynccontextmanager
async def started_rasa(
    backend: str, actions_url: str, tracker_url: str, env: dict[str, str]
) -> AsyncIterator[RunningService]:
    port = free_port()
    env = {"TRACKER_STORE_URL": tracker_url, **env}
    log = LOG_DIR / f"rasa-durable-{backend}.log"
    service = rasa_service(port, actions_url, env=env, log_path=log)
    running = RunningService(service, f"http://127.0.0.1:{port}")
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


async def readiness(rasa_url: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
        http.get(rasa_url + RASA_READY_PATH) as response,
    ):
        return response.status, await response.json()


async def readiness_becomes(
    rasa_url: str,
    expected: tuple[int, dict[str, Any]],
    within: float = 30.0,
) -> tuple[int, dict[str, Any]] | None:
    """Polls Rasa's ready endpoint until it answers ``expected``; returns the last answer
    (None: Rasa did not listen at all)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen = None
    while seen != expected and loop.time() < deadline:
        if seen is not None:
            await asyncio.sleep(0.2)
        try:
            seen = await readiness(rasa_url)
        except aiohttp.ClientConnectionError:
            seen = None
            await asyncio.sleep(0.2)
    return seen


async def tracker_rows(tracker_url: str) -> list[dict[str, Any]]:
    """Every row of Rasa's ``events`` table, every column."""
    url = make_url(tracker_url)
    if url.get_backend_name() == "sqlite":
        with contextlib.closing(sqlite3.connect(str(url.database))) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM events ORDER BY id")]
    engine = create_engine(tracker_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT * FROM rasa.events ORDER BY id"))
            return [dict(row) for row in result.mappings()]
    finally:
        await engine.dispose()


def forget_status_attempts(database_url: str) -> None:
    """No proofs, codes or counted attempts left by earlier tests (the demo IDs repeat)."""
    path = database_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for table in (
            "limit_events",
            "limit_locks",
            "one_time_codes",
            "ownership_proofs",
            "sms_outbox",
        ):
            db.execute(f"DELETE FROM {table}")


async def run_tracker_probe(tracker_url: str) -> str:
    """Runs tests/support/rasa_tracker_probe.py in Rasa's environment; its JSON output."""
    env = os.environ | {"PYTHONPATH": str(ROOT / "nlu"), "PYTHONWARNINGS": "ignore"}
    process = await asyncio.create_subprocess_exec(
        str(RASA_VENV / "bin" / "python"),
        str(PROBE),
        tracker_url,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise RuntimeError(f"the tracker probe failed ({process.returncode})")
    return out.decode().strip().splitlines()[-1]
