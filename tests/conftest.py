"""Session fixtures for the end-to-end tests: the real trained Rasa server, the real
action server and the real gateway process, started once per test session against a
Telegram Bot API emulator on 127.0.0.1.

Unit and database tests don't touch these; the processes start only when an e2e test
asks for them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.desk import DESK_CHAT_ID, DESK_MESSAGES, DESK_SECONDS, desk_env
from tests.support.processes import BOT_TOKEN, LOG_DIR, RunningService, free_port
from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import (
    MODEL,
    ROOT,
    actions_service,
    gateway_service,
    rasa_service,
    tracker_store_url,
)

# python-telegram-bot 22 warns when it builds RetryAfter unless this is set; warnings
# are errors in the tests, and the gateway process inherits it.
os.environ.setdefault("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database with the schema and the packaged demo records."""
    path = tmp_path_factory.mktemp("e2e") / "assistant.db"
    url = f"sqlite+aiosqlite:///{path}"
    cli = Path(sys.executable).parent / "ntsa-assistant"
    env = os.environ | {"DATABASE_URL": url}
    for command in (["migrate"], ["demo"]):
        subprocess.run([str(cli), *command], env=env, check=True, cwd=ROOT, capture_output=True)
    return url


@pytest.fixture(scope="session")
async def action_server(e2e_database: str) -> AsyncIterator[RunningService]:
    port = free_port()
    service = actions_service(
        port,
        env={"DATABASE_URL": e2e_database, "LOG_LEVEL": "INFO"},
        log_path=LOG_DIR / "actions.log",
    )
    running = RunningService(service, f"http://127.0.0.1:{port}")
    await running.start()
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def rasa_server(
    action_server: RunningService, e2e_database: str
) -> AsyncIterator[RunningService]:
    """The real Rasa server with the model that ``make test`` trained."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run the tests with 'make test'")
    port = free_port()
    # Conversations (SQL, sealed) and the activity record beside the session's database.
    env = {"TRACKER_STORE_URL": tracker_store_url(e2e_database), "DATABASE_URL": e2e_database}
    service = rasa_service(port, action_server.url, env=env, log_path=LOG_DIR / "rasa.log")
    running = RunningService(service, f"http://127.0.0.1:{port}")
    await running.start()
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def telegram() -> AsyncIterator[object]:
    async with TelegramEmulator(token=BOT_TOKEN) as emulator:
        # The agents' desk (tests/e2e/test_handoff.py), limited like Telegram's groups but
        # over seconds rather than a minute, so pacing shows quickly.
        emulator.add_group(DESK_CHAT_ID, "NTSA support desk", is_forum=True)
        emulator.group_rate_limit(DESK_MESSAGES, DESK_SECONDS)
        yield emulator


@pytest.fixture(scope="session")
async def gateway(
    telegram: object, rasa_server: RunningService, e2e_database: str
) -> AsyncIterator[RunningService]:
    """The gateway process (``python -m bot``) polling the emulator."""
    env = {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,  # type: ignore[attr-defined]
        "RASA_URL": rasa_server.url,
        "DATABASE_URL": e2e_database,
        "LOG_LEVEL": "INFO",
        "REMINDER_INTERVAL_SECONDS": "1",  # training reminders and promotion notices
        # Chat state (buttons, language) beside the session's database, not in var/.
        "GATEWAY_STATE_PATH": str(Path(e2e_database.split(":///", 1)[1]).with_name("bot.pickle")),
        # Tests type faster than people; test_gateway.py restarts with the real burst limit.
        "CHAT_BURST_MESSAGES": "1000",
        **desk_env(),
    }
    service = gateway_service(env=env, log_path=LOG_DIR / "bot.log")
    running = RunningService(service, "")
    await service.start()
    try:
        await telegram.wait_until_polling(timeout=60)  # type: ignore[attr-defined]
    except TimeoutError:
        await service.stop()
        log = service.log_path
        raise RuntimeError(f"the gateway never polled the emulator; see {log}") from None
    yield running
    await running.stop()


_chat_ids = itertools.count(700_000_001)


@pytest.fixture
def chat_id() -> int:
    """A chat of its own for each test, so conversations never mix."""
    return next(_chat_ids) + os.getpid() % 1000 * 1_000_000
