"""How a broadcast talks to the Bot API and keeps its pace: each Telegram answer (through the
emulator) becomes what to do with the row, and the pacer never lets more than 25 sends into
any second, nor two into one chat within a second, nor any during a 429's pause."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.rate_limiter import TelegramBudget
from bot.shared_state import SharedRedis
from ntsa_assistant.announcements.bot_api import BotApi, BotApiUnusable, SendResult, SendStatus
from ntsa_assistant.announcements.pacing import Pacer, SharedBudget
from tests.support.processes import BOT_TOKEN, free_port
from tests.support.telegram_emulator import ApiError, TelegramEmulator

CHAT = 4242


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token=BOT_TOKEN) as tg:
        tg.set_user(CHAT)
        yield tg


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_sent_message_arrives_as_plain_text(emulator, http) -> None:
    api = BotApi(http, emulator.base_url, BOT_TOKEN)
    assert await api.send_message(CHAT, "Habari <b>zote</b>") == SendResult(SendStatus.SENT)
    [message] = await emulator.wait_for_messages(CHAT)
    assert message["plain_text"] == "Habari <b>zote</b>"  # no parse mode: sent as written


async def test_telegrams_refusals_become_what_to_do_with_the_row(emulator, http) -> None:
    api = BotApi(http, emulator.base_url, BOT_TOKEN)
    emulator.rate_limit(retry_after=0.25)
    assert await api.send_message(CHAT, "x") == SendResult(
        SendStatus.RETRY_AFTER, 0.25, "Too Many Requests: retry after 0.25"
    )
    emulator.block(CHAT)
    assert await api.send_message(CHAT, "x") == SendResult(
        SendStatus.BLOCKED, detail="Forbidden: bot was blocked by the user"
    )
    assert await api.send_message(999_001, "x") == SendResult(
        SendStatus.REFUSED, detail="Bad Request: chat not found"
    )
    emulator.fail_next("sendMessage", ApiError(502, "Bad Gateway"))
    assert await api.send_message(CHAT, "x") == SendResult(
        SendStatus.TRANSIENT, detail="Bad Gateway"
    )


async def test_no_answer_at_all_is_transient(http) -> None:
    api = BotApi(http, f"http://127.0.0.1:{free_port()}/bot", BOT_TOKEN)
    result = await api.send_message(CHAT, "x")
    assert result.status is SendStatus.TRANSIENT
    assert BOT_TOKEN not in (result.detail or "")


async def test_a_wrong_token_stops_everything_without_showing_it(emulator, http) -> None:
    api = BotApi(http, emulator.base_url, "654321:WRONG")
    with pytest.raises(BotApiUnusable, match="check TELEGRAM_BOT_TOKEN") as caught:
        await api.send_message(CHAT, "x")
    assert "WRONG" not in str(caught.value)


def _most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_the_pace_is_25_a_second_in_any_second() -> None:
    pacer, times = Pacer(per_second=25), []
    for chat in range(60):
        await pacer.take(chat)
        times.append(time.monotonic())
    assert 20 <= _most_in_one_second(times) <= 25  # evenly spaced, never a burst


async def test_one_chat_gets_one_message_a_second() -> None:
    pacer = Pacer()
    await pacer.take(7)
    first = time.monotonic()
    await pacer.take(8)  # another chat is not held up
    other = time.monotonic()
    await pacer.take(7)
    second = time.monotonic()
    assert other - first < 1.0 <= second - first


async def test_nothing_is_sent_during_a_429_pause() -> None:
    pacer = Pacer()
    await pacer.pause(0.3)
    paused_at = time.monotonic()
    assert pacer.paused
    await pacer.take(1)
    assert time.monotonic() - paused_at >= 0.3
    assert not pacer.paused


# --- with several gateways: one budget in Redis ------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """A Redis (``TEST_REDIS_URL``) and a key prefix of this test's own, emptied after."""
    url = os.environ.get("TEST_REDIS_URL", "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_REDIS_URL is not set, and CI must run the Redis tests")
        pytest.skip("TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    prefix = f"test-broadcast-{secrets.token_hex(4)}:"
    yield url, prefix
    client = Redis.from_url(url)
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


async def test_a_broadcast_draws_from_the_gateways_shared_budget(redis_prefix) -> None:
    url, prefix = redis_prefix
    gateway = SharedRedis(Redis.from_url(url), url, prefix)
    broadcast = SharedBudget(url, prefix)
    try:
        await TelegramBudget(gateway).take()
        await broadcast.take()
        keys = [key async for key in gateway.client.scan_iter(match=f"{prefix}*")]
        assert keys == [f"{prefix}telegram:budget".encode()]  # one budget for both
        # The bucket holds both sends: its next free moment is two sends' spacing ahead.
        seconds, micros = await gateway.client.time()
        ahead_ms = float(await gateway.client.get(keys[0])) - (seconds * 1000 + micros / 1000)
        assert 2 * 1000 / 30 - 10 < ahead_ms <= 2 * 1000 / 30

        await broadcast.pause(5)  # a 429 seen by the broadcast holds the gateways too
        assert await gateway.client.pttl(gateway.key("telegram", "paused")) > 0
    finally:
        await broadcast.close()
        await gateway.close()
