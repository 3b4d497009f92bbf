"""``ntsa-assistant broadcast`` as an operator runs it, against the Telegram emulator: 200
subscribers in Kiswahili, some of whom blocked the bot, two 429s on the way, and the command
killed (SIGKILL) half-way and run again. Every other chat gets the text exactly once, the
blocked ones are unsubscribed, nobody in English is written to, and the calls Telegram saw
keep to 25 a second, one a second per chat and nothing during a ``retry_after``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ntsa_assistant.announcements.subscriptions import subscribe
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.storage.models import AnnouncementDelivery, DeliveryState, Subscription
from ntsa_assistant.storage.schema import upgrade_schema
from tests.support.processes import BOT_TOKEN
from tests.support.telegram_emulator import ApiCall, TelegramEmulator
from tools.stack import ROOT

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "ntsa-assistant"
TEXT = (
    "Kikumbusho kutoka NTSA: maombi yote yaliyoanzishwa kwenye TIMS yakamilishwe kufikia "
    "Ijumaa, 15 Desemba 2023."
)
SUBSCRIBERS = range(810_001, 810_201)  # 200 chats, subscribed in Kiswahili
BLOCKED = set(SUBSCRIBERS[::17])  # 12 of them blocked the bot
ENGLISH = range(810_301, 810_311)  # subscribed in English: another broadcast's
PER_SECOND = 25


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, SessionFactory]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'broadcast.db'}"
    await upgrade_schema(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    now = Clock().now()
    for chat in SUBSCRIBERS:
        await subscribe(sessions, chat, "sw", now)
    for chat in ENGLISH:
        await subscribe(sessions, chat, "en", now)
    yield url, sessions
    await engine.dispose()


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token=BOT_TOKEN) as emulator:
        for chat in [*SUBSCRIBERS, *ENGLISH]:
            emulator.set_user(chat)
        for chat in BLOCKED:
            emulator.block(chat)
        yield emulator


async def _start(
    url: str, telegram: TelegramEmulator, text_file: Path
) -> asyncio.subprocess.Process:
    env = os.environ | {
        "DATABASE_URL": url,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    return await asyncio.create_subprocess_exec(
        str(CLI),
        "broadcast",
        "--text-file",
        str(text_file),
        "--language",
        "sw",
        "--audience",
        "subscribers",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _next_429(telegram: TelegramEmulator, retry_after: float, after_calls: int) -> ApiCall:
    """Makes the first sendMessage after ``after_calls`` answered ones a 429; returns it."""
    await telegram.wait_for_calls("sendMessage", after_calls, timeout=60)
    seen = len(telegram.rejected("sendMessage"))
    telegram.rate_limit(retry_after=retry_after)
    while len(telegram.rejected("sendMessage")) == seen:
        answered = len([c for c in telegram.calls("sendMessage") if c.answered])
        await telegram.wait_for_calls("sendMessage", answered + 1, timeout=60)
    return telegram.rejected("sendMessage")[-1]


async def _finished_rows(sessions: SessionFactory) -> int:
    async with sessions() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(AnnouncementDelivery)
            .where(AnnouncementDelivery.state != DeliveryState.PENDING)
        )
        return int(count or 0)


async def _rows_in_hand(sessions: SessionFactory) -> int:
    """Pending rows a sender has taken (a try counted) and not finished or given back."""
    async with sessions() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(AnnouncementDelivery)
            .where(
                AnnouncementDelivery.state == DeliveryState.PENDING,
                AnnouncementDelivery.attempts > 0,
            )
        )
        return int(count or 0)


async def _quiet(telegram: TelegramEmulator, sessions: SessionFactory) -> None:
    """Waits until every send Telegram answered with a verdict (200, 403) is a finished row
    and no row is in a sender's hands: killed then, the run leaves nothing in doubt."""
    for _ in range(500):
        calls = telegram.calls("sendMessage")
        decided = sum(1 for c in calls if c.answered and c.status in (200, 403))
        if (
            all(c.answered for c in calls)
            and await _finished_rows(sessions) == decided
            and await _rows_in_hand(sessions) == 0
        ):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the broadcast never settled during the 429's pause")


def _most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_a_killed_broadcast_resumes_and_reaches_everyone_once_within_the_limits(
    database: tuple[str, SessionFactory], telegram: TelegramEmulator, tmp_path: Path
) -> None:
    url, sessions = database
    text_file = tmp_path / "announcement.txt"
    text_file.write_text(TEXT + "\n", "utf-8")

    first = await _start(url, telegram, text_file)
    short = await _next_429(telegram, retry_after=1.0, after_calls=40)
    long = await _next_429(telegram, retry_after=3.0, after_calls=110)
    await _quiet(telegram, sessions)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert await _finished_rows(sessions) < len(SUBSCRIBERS)  # killed half-way

    # run again once the 429's wait is over (a killed run's pause dies with it)
    await asyncio.sleep(max(long.at + 3.0 - time.monotonic(), 0))
    second = await _start(url, telegram, text_file)
    out, err = await asyncio.wait_for(second.communicate(), timeout=120)

    assert second.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("Resuming broadcast #1 (sw, subscribers), started ")
    assert (
        lines[-1] == f"Broadcast #1: sent {len(SUBSCRIBERS) - len(BLOCKED)} · blocked 12 · failed 0"
    )
    for chat in SUBSCRIBERS:
        expected = [] if chat in BLOCKED else [TEXT]
        assert [m["plain_text"] for m in telegram.outbox(chat)] == expected, chat
    assert all(telegram.outbox(chat) == [] for chat in ENGLISH)
    async with sessions() as db:
        subscribed = set(await db.scalars(select(Subscription.chat_id)))
    assert subscribed == (set(SUBSCRIBERS) - BLOCKED) | set(ENGLISH)

    calls = telegram.calls("sendMessage")
    assert _most_in_one_second([c.at for c in calls]) <= PER_SECOND
    by_chat: dict[int, list[float]] = {}
    for call in calls:
        by_chat.setdefault(int(call.params["chat_id"]), []).append(call.at)
    assert Counter(len(times) for times in by_chat.values()) == {1: 198, 2: 2}  # 429s retried
    for times in by_chat.values():
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    for refused, wait in ((short, 1.0), (long, 3.0)):
        after = [c.at for c in calls if c.at > refused.at]
        assert min(after) >= refused.at + wait  # nothing went during retry_after
