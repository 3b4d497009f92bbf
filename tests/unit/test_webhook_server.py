"""The gateway's webhook server (bot/webhook.py) and the ledger of turns behind it
(bot/handlers/dedupe.py): Telegram's POST is answered once the turn is done.

A real python-telegram-bot Application answers through the Telegram emulator; its turns
run through the real update processor (:class:`~bot.handlers.throttle.ChatTurns`) and can
be held open by the test. POSTs come from pytest-aiohttp's client, or from the emulator
playing Telegram. Redis is real (``TEST_REDIS_URL``), under a key prefix of each test's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot import webhook
from bot.handlers import dedupe
from bot.handlers.dedupe import Arrival, LocalTurnLedger, SharedTurnLedger, TurnLedger
from bot.handlers.throttle import BurstLimit, ChatTurns
from bot.shared_state import SharedRedis
from bot.webhook import SECRET_HEADER, WebhookServer
from ntsa_assistant.core.settings import Settings
from tests.support.databases import redis_replicas
from tests.support.processes import free_port
from tests.support.telegram_emulator import TelegramEmulator

SECRET = "webhook-secret_1"
CHAT, OTHER_CHAT, THIRD_CHAT = 1001, 1002, 1003

Sharing = Callable[[], Awaitable[SharedRedis]]
Client = Callable[..., Awaitable[TestClient]]
Running = Callable[[Application], Awaitable[Application]]


class Turns:
    """The application's one handler: notes each turn, may hold it, then answers."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.held: dict[int, asyncio.Event] = {}
        self.failing: set[int] = set()
        self.errors: list[tuple[int, str]] = []
        self._changed = asyncio.Condition()

    def hold(self, update_id: int) -> asyncio.Event:
        """The turn of ``update_id`` waits, once started, until the event is set."""
        return self.held.setdefault(update_id, asyncio.Event())

    async def wait_started(self, update_id: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: update_id in self.started), 5)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with self._changed:
            self.started.append(update.update_id)
            self._changed.notify_all()
        if update.update_id in self.held:
            await self.held[update.update_id].wait()
        if update.update_id in self.failing:
            raise RuntimeError("a bug in the turn")
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, f"answer {update.update_id}")

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        self.errors.append((update.update_id, str(context.error)))


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def sharing() -> AsyncIterator[Sharing]:
    """``await sharing()``: a Redis client of its own (a replica), under this test's prefix."""
    async with redis_replicas() as make:

        async def one() -> SharedRedis:
            [client] = await make(1)
            return client

        yield one


@pytest.fixture
def turns() -> Turns:
    return Turns()


def build(tg: TelegramEmulator, turns: Turns, shared: SharedRedis | None = None) -> Application:
    """The gateway's shape: the polling de-dup gate first, then the turn, through ChatTurns."""
    application = (
        ApplicationBuilder()
        .token(tg.token or "")
        .base_url(tg.base_url)
        .concurrent_updates(ChatTurns(slots=4, limit=BurstLimit(burst=100, window=10)))
        .build()
    )
    application.add_handlers(dedupe.handlers(shared), group=-3)
    application.add_handler(TypeHandler(Update, turns.handle))
    application.add_error_handler(turns.on_error)
    return application


@pytest.fixture
async def running(turns: Turns) -> AsyncIterator[Running]:
    """``await running(application)``: initialized and started; at the end the turns still
    held (a test that failed) are let go, and it is stopped."""
    started: list[Application] = []

    async def start(application: Application) -> Application:
        await application.initialize()
        await application.start()
        started.append(application)
        return application

    yield start
    for held in turns.held.values():
        held.set()
    for application in started:
        if application.running:
            await application.stop()
        await application.shutdown()


class Poster:
    """POSTs to a webhook server as Telegram does; returns the status and headers."""

    def __init__(self, server: WebhookServer, client: TestClient) -> None:
        self.server = server
        self._client = client

    async def __call__(
        self, body: bytes | dict[str, Any], secret: str | None = SECRET
    ) -> tuple[int, dict[str, str]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        async with self._client.post("/", data=data, headers=headers) as response:
            return response.status, dict(response.headers)


async def poster(server: WebhookServer, aiohttp_client: Client) -> Poster:
    return Poster(server, await aiohttp_client(server.app()))


@pytest.fixture
async def post(
    tg: TelegramEmulator, turns: Turns, running: Running, aiohttp_client: Client
) -> Poster:
    """A webhook server on a started application, with an in-process ledger."""
    return await poster(
        WebhookServer(await running(build(tg, turns)), LocalTurnLedger(), SECRET), aiohttp_client
    )


def _answers(tg: TelegramEmulator, chat: int) -> list[str]:
    return [m["text"] for m in tg.outbox(chat)]


# ---------------------------------------------------------------- acknowledged after the turn


async def test_an_update_is_acknowledged_only_once_its_turn_is_done(tg, turns, post):
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    release = turns.hold(update_id)
    first = asyncio.create_task(post(tg.update(update_id)))
    await turns.wait_started(update_id)
    # Telegram sends it again meanwhile (its connection dropped): come back later.
    status, headers = await post(tg.update(update_id))
    assert (status, headers["Retry-After"]) == (409, "15")
    assert not first.done()
    release.set()
    assert (await first)[0] == 200
    assert _answers(tg, CHAT) == [f"answer {update_id}"]  # sent before the 200
    assert turns.started == [update_id]


async def test_a_copy_of_an_answered_update_gets_200_and_nothing_else(tg, turns, post):
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    assert (await post(tg.update(update_id)))[0] == 200
    assert (await post(tg.update(update_id)))[0] == 200
    later = tg.push_text(CHAT, "/help")
    assert (await post(tg.update(later)))[0] == 200
    assert turns.started == [update_id, later]
    assert _answers(tg, CHAT) == [f"answer {update_id}", f"answer {later}"]


async def test_a_turn_that_fails_goes_to_the_error_handler_and_is_not_run_again(tg, turns, post):
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    turns.failing.add(update_id)
    assert (await post(tg.update(update_id)))[0] == 200
    assert (await post(tg.update(update_id)))[0] == 200
    assert turns.errors == [(update_id, "a bug in the turn")]
    assert turns.started == [update_id]


# ---------------------------------------------------------------- refused before the application


@pytest.mark.parametrize("secret", [None, "", "webhook-secret_2", "webhook-secret_1x", "é"])
async def test_a_wrong_or_missing_secret_gets_403_and_runs_nothing(tg, turns, post, secret):
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    assert (await post(tg.update(update_id), secret=secret))[0] == 403
    # Nothing was claimed either: Telegram's own delivery of it is then answered.
    assert (await post(tg.update(update_id)))[0] == 200
    assert turns.started == [update_id]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"update_id": "700000001"}',
        b'{"update_id": true}',
        b'{"update_id": 700000001, "message": "junk"}',
        b'{"update_id": 700000001, "message": {"text": "no date, no chat"}}',
    ],
)
async def test_a_body_that_is_not_an_update_gets_400_and_runs_nothing(tg, turns, post, body):
    assert (await post(body))[0] == 400
    assert turns.started == []


async def test_a_body_over_the_bound_gets_413_and_runs_nothing(tg, turns, running, aiohttp_client):
    application = await running(build(tg, turns))
    server = WebhookServer(application, LocalTurnLedger(), SECRET, max_body_bytes=4096)
    post = await poster(server, aiohttp_client)
    update = tg.update(tg.push_text(CHAT, "x" * 4096))
    assert (await post(update))[0] == 413
    assert turns.started == []


# ---------------------------------------------------------------- the update processor applies


async def test_one_chats_turns_wait_for_each_other_and_other_chats_go_on(tg, turns, post):
    first = tg.push_text(CHAT, "one")
    second = tg.push_text(CHAT, "two")
    other = tg.push_text(OTHER_CHAT, "elsewhere")
    release = turns.hold(first)
    posts = [asyncio.create_task(post(tg.update(first)))]
    await turns.wait_started(first)
    posts += [asyncio.create_task(post(tg.update(u))) for u in (second, other)]
    assert (await posts[2])[0] == 200  # another chat is answered meanwhile
    assert turns.started == [first, other]  # the chat's second turn waits for its first
    release.set()
    assert [(await p)[0] for p in posts[:2]] == [200, 200]
    assert turns.started == [first, other, second]


# ---------------------------------------------------------------- stopping


async def test_a_stop_refuses_new_updates_and_finishes_the_turns_under_way(tg, turns, post):
    under_way = tg.push_text(CHAT, "When does TIMS close?")
    release = turns.hold(under_way)
    taken = asyncio.create_task(post(tg.update(under_way)))
    await turns.wait_started(under_way)
    assert not post.server.stopping
    stopping = asyncio.create_task(post.server.stop())
    new = tg.push_text(OTHER_CHAT, "When does TIMS close?")
    assert (await post(tg.update(new)))[0] == 503  # Telegram sends it again, elsewhere
    assert post.server.stopping  # the health endpoint's /ready says not ready
    assert not stopping.done()  # waits for the turn under way
    release.set()
    assert (await taken)[0] == 200
    await stopping
    assert turns.started == [under_way]
    assert _answers(tg, CHAT) == [f"answer {under_way}"]


# ---------------------------------------------------------------- replicas sharing Redis


async def test_a_turn_claimed_at_arrival_is_not_dropped_by_the_polling_gate(
    tg, turns, running, sharing, aiohttp_client
):
    shared = await sharing()
    application = await running(build(tg, turns, shared))
    post = await poster(
        WebhookServer(application, SharedTurnLedger(shared), SECRET), aiohttp_client
    )
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    assert (await post(tg.update(update_id)))[0] == 200
    assert _answers(tg, CHAT) == [f"answer {update_id}"]


async def test_an_update_held_by_a_replica_that_died_is_answered_when_its_lease_runs_out(
    tg, turns, running, sharing, aiohttp_client
):
    dead, alive = await sharing(), await sharing()
    lease = 0.5
    update_id = tg.push_text(CHAT, "When does TIMS close?")
    # The dead replica had claimed it, and will never mark it done.
    assert (await SharedTurnLedger(dead, lease).claim(update_id)).arrival is Arrival.NEW
    application = await running(build(tg, turns, alive))
    ledger = SharedTurnLedger(alive, lease)
    post = await poster(WebhookServer(application, ledger, SECRET), aiohttp_client)
    status, headers = await post(tg.update(update_id))
    assert (status, headers["Retry-After"]) == (409, "1")  # the lease's time left, rounded up
    assert turns.started == []
    await asyncio.sleep(lease)  # Telegram comes back after Retry-After
    assert (await post(tg.update(update_id)))[0] == 200
    assert (await post(tg.update(update_id)))[0] == 200
    assert turns.started == [update_id]
    assert _answers(tg, CHAT) == [f"answer {update_id}"]


async def test_two_replicas_claiming_one_update_at_once_run_it_once(sharing):
    ledgers = [SharedTurnLedger(await sharing()) for _ in range(2)]
    claims = await asyncio.gather(*(ledger.claim(700_000_001) for ledger in ledgers * 5))
    assert sorted(c.arrival.value for c in claims) == sorted(
        [Arrival.NEW.value] + [Arrival.IN_PROGRESS.value] * 9
    )
    waits = [c.retry_after for c in claims if c.arrival is Arrival.IN_PROGRESS]
    assert all(0 < wait <= dedupe.LEASE_SECONDS for wait in waits)
    [holder] = [led for led, c in zip(ledgers * 5, claims, strict=True) if c.arrival is Arrival.NEW]
    await holder.done(700_000_001)
    assert {(await ledger.claim(700_000_001)).arrival for ledger in ledgers} == {Arrival.DONE}


async def test_a_running_turn_keeps_its_lease_and_a_released_one_is_free_at_once(sharing):
    holder = SharedTurnLedger(await sharing(), lease_seconds=0.3)
    other = SharedTurnLedger(await sharing(), lease_seconds=0.3)
    assert (await holder.claim(700_000_002)).arrival is Arrival.NEW
    keeping = asyncio.create_task(holder.keep(700_000_002))
    await asyncio.sleep(0.7)  # more than two leases
    assert (await other.claim(700_000_002)).arrival is Arrival.IN_PROGRESS
    keeping.cancel()
    await holder.release(700_000_002)  # e.g. claimed while the server stopped
    assert (await other.claim(700_000_002)).arrival is Arrival.NEW


async def test_pollings_claim_reads_as_done(sharing):
    shared = await sharing()
    assert await dedupe.SharedSeenUpdates(shared).claim(700_000_003)
    assert (await SharedTurnLedger(shared).claim(700_000_003)).arrival is Arrival.DONE


async def test_without_redis_the_process_keeps_the_same_account():
    ledger: TurnLedger = LocalTurnLedger(capacity=2)
    assert (await ledger.claim(1)).arrival is Arrival.NEW
    assert (await ledger.claim(1)).arrival is Arrival.IN_PROGRESS
    await ledger.done(1)
    assert (await ledger.claim(1)).arrival is Arrival.DONE
    assert (await ledger.claim(2)).arrival is Arrival.NEW
    await ledger.release(2)
    assert (await ledger.claim(2)).arrival is Arrival.NEW
    for update_id in (2, 3, 4):
        await ledger.done(update_id)
    assert (await ledger.claim(1)).arrival is Arrival.NEW  # forgotten after `capacity` newer


# ---------------------------------------------------------------- the whole mode, Telegram's side


async def test_serve_sets_the_webhook_and_answers_what_telegram_delivers(tg, turns):
    port = free_port()
    settings = _webhook_settings(port)
    stop = asyncio.Event()
    allowed = ["message", "callback_query"]
    serving = asyncio.create_task(
        webhook.serve(build(tg, turns), settings, LocalTurnLedger(), allowed, stop)
    )
    try:
        await tg.wait_for_calls("setWebhook", timeout=10)
        assert {k: tg.webhook[k] for k in ("url", "secret_token", "max_connections")} == {
            "url": f"http://127.0.0.1:{port}/",
            "secret_token": SECRET,
            "max_connections": 100,
        }
        assert tg.webhook["allowed_updates"] == allowed
        tg.deliver_webhooks(retry_seconds=0.05)
        answered = tg.push_text(CHAT, "When does TIMS close?")
        [reply] = await tg.wait_for_messages(CHAT, timeout=10)
        assert reply["text"] == f"answer {answered}"
        # Stopped with a turn under way: it is answered, and acknowledged, before the end.
        under_way = tg.push_text(OTHER_CHAT, "When does TIMS close?")
        release = turns.hold(under_way)
        await turns.wait_started(under_way)
        stop.set()
        refused = tg.push_text(THIRD_CHAT, "When does TIMS close?")
        await _delivered_with(tg, refused, 503)  # the stop has begun
        release.set()
        await asyncio.wait_for(serving, 10)
        assert _answers(tg, OTHER_CHAT) == [f"answer {under_way}"]
        assert [d.status for d in tg.delivered(under_way)] == [200]
        assert [d.status for d in tg.delivered(answered)] == [200]
        assert refused not in turns.started
        assert [u["update_id"] for u in tg.pending_updates()] == [refused]  # for the next gateway
    finally:  # a failed test leaves nothing running
        for held in turns.held.values():
            held.set()
        stop.set()
        await asyncio.wait_for(serving, 10)


async def _delivered_with(tg: TelegramEmulator, update_id: int, status: int) -> None:
    """Until the emulator has had ``status`` for a POST of ``update_id`` (it keeps no event
    for its deliveries: looked at every 10 ms)."""
    async with asyncio.timeout(10):
        while status not in [d.status for d in tg.delivered(update_id)]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _webhook_settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        telegram_mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}/",
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )


async def test_a_stop_while_starting_ends_the_start_and_shuts_down(tg, turns):
    application = build(tg, turns)
    waiting, shut_down = asyncio.Event(), asyncio.Event()

    async def post_init(_application: Application) -> None:
        waiting.set()
        await asyncio.Event().wait()  # Rasa never ready

    async def post_shutdown(_application: Application) -> None:
        shut_down.set()

    application.post_init, application.post_shutdown = post_init, post_shutdown
    stop = asyncio.Event()
    settings = _webhook_settings(free_port())
    serving = asyncio.create_task(webhook.serve(application, settings, LocalTurnLedger(), [], stop))
    await waiting.wait()
    stop.set()
    await asyncio.wait_for(serving, 10)
    assert shut_down.is_set()
    assert tg.calls("setWebhook") == []


async def test_a_failed_start_shuts_down_and_says_why(tg, turns):
    application = build(tg, turns)
    shut_down = asyncio.Event()

    async def post_init(_application: Application) -> None:
        raise RuntimeError("no Rasa replica became ready")

    async def post_shutdown(_application: Application) -> None:
        shut_down.set()

    application.post_init, application.post_shutdown = post_init, post_shutdown
    settings = _webhook_settings(free_port())
    with pytest.raises(RuntimeError, match="no Rasa replica"):
        await webhook.serve(application, settings, LocalTurnLedger(), [], asyncio.Event())
    assert shut_down.is_set()
    assert tg.calls("setWebhook") == []
