"""Two gateways in webhook mode behind a load balancer, sharing Redis (DESIGN.md: "the
gateway runs in webhook mode, several replicas behind the same, with what they share in
Redis"). The Telegram emulator plays Telegram and the balancer: it POSTs each update to
the two gateways in turn and retries one that is not answered 200.

Shared: update de-duplication, each chat's burst limit, the order of each chat's turns,
each chat's state (buttons, language) and the bot's Telegram rate budget, with its 429
pauses.

A gateway answers a webhook POST 200 once the update's turn is done (bot/webhook.py); a
copy of an update still being answered elsewhere gets 409, and one already answered 200
and nothing else. On SIGTERM a gateway answers new POSTs 503 (Telegram, here the emulator,
sends them again, to the other replica) and finishes the turns it took before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from redis.asyncio import Redis

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from tests.support.databases import redis_server_url as redis_url
from tests.support.processes import BOT_TOKEN, LOG_DIR, free_port
from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import Service, gateway_service, webhook_env

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "replicas-secret_1"
REPLICA_OFFSET = 60_000_000  # chat ids of their own, far from the fixture's
QUESTION = "When does TIMS close?"


def closure_answer(lang: str = "en") -> str:
    return faq.answer(Topic.CLOSURE, lang, datetime.now(NAIROBI)).text


@dataclass
class Replicas:
    telegram: TelegramEmulator
    services: list[Service]
    ports: list[int]
    redis_url: str
    prefix: str

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/" for port in self.ports]

    async def acknowledged(self, update_id: int, times: int = 1) -> list[str]:
        """Waits until ``update_id`` has been answered 200 ``times`` times; their URLs, in
        the order the answers came. A gateway answers 200 once the turn is done, so the 200
        may come just after the turn's messages."""
        deadline = time.monotonic() + 30
        while True:
            urls = [d.url for d in self.telegram.delivered(update_id) if d.status == 200]
            if len(urls) >= times:
                return urls
            assert time.monotonic() < deadline, f"update {update_id} acknowledged {len(urls)}x"
            await asyncio.sleep(0.05)

    async def replica_of(self, update_id: int) -> str:
        """The gateway that took ``update_id``: the first to answer its POST with 200 (a
        copy sent while it ran was refused, 409, and one sent after it was done is only
        acknowledged)."""
        return (await self.acknowledged(update_id))[0]

    async def in_line(self, chat: int, update_id: int) -> None:
        """Waits until ``update_id`` has its place in ``chat``'s shared turn order."""
        redis = Redis.from_url(self.redis_url)
        key = f"{self.prefix}order:{{{chat}}}:queue"
        try:
            deadline = time.monotonic() + 30
            while update_id not in [
                int(s) for _, s in await redis.zrange(key, 0, -1, withscores=True)
            ]:
                assert time.monotonic() < deadline, f"update {update_id} never queued"
                await asyncio.sleep(0.005)
        finally:
            await redis.aclose()


@pytest.fixture(scope="module")
async def replicas(rasa_server, e2e_database) -> AsyncIterator[Replicas]:
    """Two gateway processes in webhook mode on one Redis, under a key prefix of their own."""
    url = redis_url()
    prefix = f"test:{secrets.token_hex(6)}:"
    ports = [free_port(), free_port()]
    async with TelegramEmulator(token=BOT_TOKEN) as telegram:
        services = []
        for n, port in enumerate(ports):
            env = {
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_BASE_URL": telegram.base_url,
                **webhook_env(port, WEBHOOK_SECRET, "https://gateway.example.invalid/"),
                "REDIS_URL": url,
                "REDIS_KEY_PREFIX": prefix,
                "RASA_URL": rasa_server.url,
                "DATABASE_URL": e2e_database,
                "LOG_LEVEL": "INFO",
            }
            log = LOG_DIR / f"bot-replica-{n + 1}.log"
            services.append(gateway_service(env=env, log_path=log))
        replicas = Replicas(telegram, services, ports, url, prefix)
        try:
            for service, port in zip(services, ports, strict=True):
                await service.start()
                await _wait_listening(service, port)
            telegram.deliver_webhooks(replicas.urls, retry_seconds=0.2)
            yield replicas
        finally:
            for service in services:
                await service.stop()
            redis = Redis.from_url(url)
            async for key in redis.scan_iter(match=prefix + "*"):
                await redis.delete(key)
            await redis.aclose()


async def _wait_listening(service: Service, port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not service.running:
            raise RuntimeError(f"a gateway replica exited; see {service.log_path}")
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"a gateway replica never listened; see {service.log_path}")


@pytest.fixture
def chat(chat_id: int) -> int:
    return chat_id + REPLICA_OFFSET


async def test_many_chats_through_two_replicas_are_each_answered_once(replicas, chat):
    telegram = replicas.telegram
    chats = [chat + 1000 * n for n in range(30)]
    asked = {c: telegram.push_text(c, QUESTION) for c in chats}
    for c in chats:
        [answer] = await telegram.wait_for_messages(c, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    taken = {await replicas.replica_of(update_id) for update_id in asked.values()}
    assert taken == set(replicas.urls)
    for c in chats:  # the next turn's answer is the next message: nothing was answered twice
        telegram.push_command(c, "help")
    for c in chats:
        [reply] = await telegram.wait_for_messages(c, count=1, timeout=60)
        assert reply["text"] == t("en", "common.help")


async def test_an_update_delivered_to_both_replicas_is_answered_once(replicas, chat):
    telegram = replicas.telegram
    update_id = telegram.push_command(chat, "help")
    [help_] = await telegram.wait_for_messages(chat, count=1, timeout=30)
    assert help_["text"] == t("en", "common.help")
    telegram.push_raw(telegram.update(update_id))  # Telegram sends it again
    telegram.push_command(chat, "start")
    [reply] = await telegram.wait_for_messages(chat, count=1, timeout=30)
    assert reply["text"] == t("en", "common.start")  # /help was not answered again
    # Both copies acknowledged (the second only once the first was done), and the copies
    # reached both replicas.
    assert len(await replicas.acknowledged(update_id, times=2)) == 2
    assert {d.url for d in telegram.delivered(update_id)} == set(replicas.urls)


async def test_one_chats_quick_messages_on_both_replicas_are_answered_in_the_order_sent(
    replicas, chat
):
    telegram = replicas.telegram
    # A question waits for Rasa; /help is answered by the gateway at once. Round-robined, the
    # questions reach one replica and each /help the other: only a shared order keeps a
    # /help from overtaking the question sent before it.
    # The first is in line before the others are sent: two updates that reach two replicas
    # at the same instant, the chat idle, go in the order Redis hears them (bot/chat_order.py).
    first = telegram.push_text(chat, QUESTION)
    await replicas.in_line(chat, first)
    asked = [
        first,
        telegram.push_command(chat, "help"),
        telegram.push_text(chat, QUESTION),
        telegram.push_command(chat, "help"),
    ]
    got = await telegram.wait_for_messages(chat, count=len(asked), timeout=60)
    help_ = t("en", "common.help")
    assert [m["text"] for m in got] == [closure_answer(), help_, closure_answer(), help_]
    taken = [await replicas.replica_of(update_id) for update_id in asked]
    assert taken[0] == taken[2] != taken[1] == taken[3]
    telegram.push_command(chat, "start")  # the next answer is the next message: none twice
    [reply] = await telegram.wait_for_messages(chat, count=1, timeout=30)
    assert reply["text"] == t("en", "common.start")


async def test_a_button_made_by_one_replica_works_on_the_other(replicas, chat):
    telegram = replicas.telegram
    asked = telegram.push_command(chat, "faq")
    [menu] = await telegram.wait_for_messages(chat, count=1, timeout=30)
    assert menu["text"] == faq.menu("en").text
    closure = faq.menu("en").buttons[0]
    pressed = telegram.press_button(chat, closure.title, message_id=menu["message_id"])
    [answer] = await telegram.wait_for_messages(chat, count=1, timeout=30)
    assert answer["text"] == closure_answer()
    assert await replicas.replica_of(asked) != await replicas.replica_of(pressed)


async def test_a_chats_burst_is_counted_across_replicas(replicas, chat):
    telegram = replicas.telegram
    burst, turns = Settings().chat_burst_messages, 8
    asked = [telegram.push_text(chat, QUESTION) for _ in range(turns)]
    got = await telegram.wait_for_messages(chat, count=burst + 1, timeout=60)
    assert sorted(m["text"] for m in got) == sorted(
        [t("en", "common.slow_down")] + [closure_answer()] * burst
    )
    # Each replica alone would have let all of its four through.
    assert {await replicas.replica_of(update_id) for update_id in asked} == set(replicas.urls)


async def test_telegram_answering_429_delays_replies_and_drops_none(replicas, chat):
    telegram = replicas.telegram
    chats = [chat + 1000 * n for n in range(10)]
    refused_before = len(telegram.rejected("sendMessage"))
    telegram.rate_limit(count=4, retry_after=0.3)
    for c in chats:
        telegram.push_text(c, QUESTION)
    for c in chats:
        [answer] = await telegram.wait_for_messages(c, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    assert len(telegram.rejected("sendMessage")) - refused_before == 4


async def test_a_replica_restarted_in_the_middle_of_traffic_loses_nothing_and_repeats_nothing(
    replicas, chat
):
    telegram = replicas.telegram
    chats = [chat + 1000 * n for n in range(20)]
    before, during = chats[:10], chats[10:]
    sent_before = len(telegram.calls("sendMessage"))
    for c in before:
        telegram.push_text(c, QUESTION)
    await telegram.wait_for_calls("sendMessage", count=sent_before + 2, timeout=60)
    service, port = replicas.services[0], replicas.ports[0]
    stopping = asyncio.create_task(service.stop())  # SIGTERM
    await asyncio.sleep(0)  # the signal is sent
    for c in during:  # the balancer goes on sending to both
        telegram.push_text(c, QUESTION)
    await stopping
    await service.start()
    await _wait_listening(service, port)

    for c in chats:
        [answer] = await telegram.wait_for_messages(c, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    for c in chats:  # the next turn's answer is the next message: nothing was answered twice
        telegram.push_command(c, "help")
    for c in chats:
        [reply] = await telegram.wait_for_messages(c, count=1, timeout=60)
        assert reply["text"] == t("en", "common.help")
