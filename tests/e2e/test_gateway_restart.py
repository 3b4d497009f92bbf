"""The gateway stopped in the middle of traffic from many chats: no update is lost.

Polling, stopped with SIGTERM (as the supervisor or docker stops it): python-telegram-bot
confirms a batch of updates to Telegram with the offset of its next getUpdates, sent as soon
as the batch is queued (not processed); on SIGTERM it stops polling, confirms what it
fetched, and ``Application.stop`` waits until every queued update has been processed. So
whatever was fetched is answered by the old process, and whatever was not is fetched by the
new one: none is answered twice.

Webhook, killed with SIGKILL (out of memory, its machine gone): the gateway answers
Telegram's POST of an update only once the turn is done (bot/webhook.py), so Telegram sends
again whatever got no answer, and the restarted gateway answers it once the dead one's
claim on it (a lease in Redis) has run out. One case is answered twice: a turn whose answer
had reached Telegram while its POST had not been answered yet (the kill fell in the moment
between the answer and the acknowledgement); the test states that rule exactly.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from redis.asyncio import Redis

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import t
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from tests.support.databases import redis_server_url as redis_url
from tests.support.processes import BOT_TOKEN, LOG_DIR, free_port
from tests.support.telegram_emulator import ApiCall, TelegramEmulator
from tools.stack import Service, gateway_service, webhook_env

pytestmark = pytest.mark.e2e

CHATS = 40
RESTART_OFFSET = 50_000_000  # chat ids of their own, far from the fixture's
KILLED_CHATS = 20
KILL_OFFSET = 51_000_000
WEBHOOK_SECRET = "restart-secret_1"
QUESTION = "When does TIMS close?"


def closure_answer() -> str:
    return faq.answer(Topic.CLOSURE, "en", datetime.now(NAIROBI)).text


async def test_a_restart_in_the_middle_of_traffic_loses_no_update_and_answers_none_twice(
    telegram, gateway, chat_id
):
    chats = [chat_id + RESTART_OFFSET + n for n in range(CHATS)]
    before, during = chats[: CHATS // 2], chats[CHATS // 2 :]
    sent_before = len(telegram.calls("sendMessage"))
    for chat in before:
        telegram.push_text(chat, QUESTION)
    # A few answers are out: the gateway is in the middle of the traffic when it is stopped.
    await telegram.wait_for_calls("sendMessage", count=sent_before + 3, timeout=60)
    stopping = asyncio.create_task(gateway.restart())  # SIGTERM, exit, start anew
    await asyncio.sleep(0)  # the signal is sent
    answered_at_the_signal = _answered(telegram, chats)
    for chat in during:  # people go on writing while the gateway stops and starts
        telegram.push_text(chat, QUESTION)
    await stopping
    assert len(answered_at_the_signal) < len(before)  # else this proved nothing

    for chat in chats:
        [answer] = await telegram.wait_for_messages(chat, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    # Each chat's next turn gets the next answer: no second answer to the first question
    # came before it (the new process takes a chat's updates in order).
    for chat in chats:
        telegram.push_command(chat, "help")
    for chat in chats:
        [reply] = await telegram.wait_for_messages(chat, count=1, timeout=60)
        assert reply["text"] == t("en", "common.help")
        assert [m["text"] for m in telegram.outbox(chat)] == [closure_answer(), reply["text"]]


def _answered(telegram, chats: list[int]) -> set[int]:
    return {c.params["chat_id"] for c in telegram.calls("sendMessage") if c.ok} & set(chats)


# ---------------------------------------------------------------- webhook mode, SIGKILL


@pytest.fixture
async def webhook_gateway(
    rasa_server, e2e_database
) -> AsyncIterator[tuple[TelegramEmulator, Service]]:
    """A gateway in webhook mode with Redis (as in production), and Telegram delivering to
    it; its keys in Redis under a prefix of its own, deleted afterwards."""
    url, prefix, port = redis_url(), f"test:{secrets.token_hex(6)}:", free_port()
    env = {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        **webhook_env(port, WEBHOOK_SECRET),
        "REDIS_URL": url,
        "REDIS_KEY_PREFIX": prefix,
        "RASA_URL": rasa_server.url,
        "DATABASE_URL": e2e_database,
        "LOG_LEVEL": "INFO",
    }
    async with TelegramEmulator(token=BOT_TOKEN) as telegram:
        env["TELEGRAM_BASE_URL"] = telegram.base_url
        service = gateway_service(env=env, log_path=LOG_DIR / "bot-webhook-killed.log")
        try:
            await service.start()
            await telegram.wait_for_calls("setWebhook", timeout=120)
            telegram.deliver_webhooks(retry_seconds=0.2)
            yield telegram, service
        finally:
            await service.stop()
            redis = Redis.from_url(url)
            async for key in redis.scan_iter(match=prefix + "*"):
                await redis.delete(key)
            await redis.aclose()


async def test_a_webhook_gateway_killed_mid_turn_loses_no_update(webhook_gateway, chat_id):
    telegram, service = webhook_gateway
    chats = [chat_id + KILL_OFFSET + n for n in range(KILLED_CHATS)]
    asked = {chat: telegram.push_text(chat, QUESTION) for chat in chats}
    # A few answers are out: the gateway is in the middle of the turns when it is killed.
    await telegram.wait_for_calls("sendMessage", count=3, timeout=60)
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGKILL)  # its own session: the gateway alone
    await service.process.wait()
    acknowledged_by_the_killed = {
        chat for chat in chats if 200 in [d.status for d in telegram.delivered(asked[chat])]
    }
    calls_before_the_restart = len(telegram.calls())
    await service.start()

    for chat in chats:
        [answer] = await telegram.wait_for_messages(chat, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    await _all_acknowledged(telegram)  # so no answer to these questions is still to come

    [restarted_at] = [
        c.at for c in telegram.calls()[calls_before_the_restart:] if c.method == "getMe"
    ]
    for chat in chats:
        answers = _answers(telegram, chat)
        assert [c.params["text"] for c in answers] == [closure_answer()] * len(answers)
        by_the_killed = [c for c in answers if c.at < restarted_at]
        # The rule: one answer per chat, except a chat whose answer the killed gateway had
        # sent without having acknowledged the update yet (killed between the two): Telegram
        # sends it again, and the restarted gateway answers it again unless the killed one
        # had marked it done. Never two answers from one gateway. (Killed within milliseconds
        # of the third answer, as here, that is usually the third chat.)
        if by_the_killed and chat not in acknowledged_by_the_killed:
            assert len(answers) in (1, 2), chat
            assert len(by_the_killed) == 1, chat
        else:
            assert len(answers) == 1, chat
    # The kill fell in the middle: some turns were cut (their POST got no answer), and the
    # killed gateway had answered some chats but not all.
    cut = [c for c in chats if None in [d.status for d in telegram.delivered(asked[c])]]
    assert cut
    answered_by_the_killed = {
        c for c in chats if any(a.at < restarted_at for a in _answers(telegram, c))
    }
    assert 3 <= len(answered_by_the_killed) < KILLED_CHATS

    # Each chat's next turn gets the next answer: nothing more came for the first.
    answered = {chat: len(_answers(telegram, chat)) for chat in chats}
    for chat in chats:
        telegram.mark(chat)  # a second answer was not read above
        telegram.push_command(chat, "help")
    for chat in chats:
        [reply] = await telegram.wait_for_messages(chat, count=1, timeout=60)
        assert reply["text"] == t("en", "common.help")
        expected = [closure_answer()] * answered[chat] + [reply["text"]]
        assert [m["text"] for m in telegram.outbox(chat)] == expected


def _answers(telegram: TelegramEmulator, chat: int) -> list[ApiCall]:
    """The answers Telegram took for ``chat``, in order."""
    return [c for c in telegram.calls("sendMessage") if c.ok and c.params["chat_id"] == chat]


async def _all_acknowledged(telegram: TelegramEmulator) -> None:
    """Until Telegram (the emulator) holds no update unacknowledged: looked at every 0.1 s."""
    async with asyncio.timeout(60):
        while telegram.pending_updates():  # noqa: ASYNC110 - the emulator keeps no event for it
            await asyncio.sleep(0.1)
