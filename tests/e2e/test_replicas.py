"""Two Rasa replicas behind one gateway, and the readiness of the gateway and the action
server.

The real gateway talks to two real Rasa replicas (sharing one action server and one
tracker store) through recording proxies (tests/support/rasa_proxy.py), so the test sees
which replica took which chat: the chats spread over both and each stays on its own; when
one replica is killed (SIGKILL) in the middle of its chats' registration forms, the other
one answers them, each turn once, and the forms go on where they were.

Then the start: the gateway takes no update while no Rasa replica is ready, and takes them
once one is; its health endpoint says why it is not ready, and the action server's does too.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.rasa_client import rendezvous_order
from ntsa_assistant.core.i18n import spell_short_datetime, t
from tests.support.fake_rasa import FakeRasaReplica, ReplicaServer
from tests.support.processes import (
    BOT_TOKEN,
    LOG_DIR,
    RunningService,
    exit_output,
    free_port,
    rasa_api_params,
)
from tests.support.rasa_proxy import RecordingProxy
from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import actions_service, gateway_service, rasa_service

pytestmark = pytest.mark.e2e

WAIT = 30
CHATS_PER_REPLICA = 3
MOT_01 = datetime(2027, 1, 19, 7, 0, tzinfo=UTC)  # TRN-MOT-01: 200 seats, for motorists
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


def tx(key: str) -> str:
    return t("en", f"training.{key}")


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def get_json(url: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http,
        http.get(url) as response,
    ):
        return response.status, await response.json()


def gateway_env(telegram: TelegramEmulator, rasa_url: str, database: str, name: str) -> dict:
    return {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "RASA_URL": rasa_url,
        "DATABASE_URL": database,
        "LOG_LEVEL": "INFO",
        "GATEWAY_STATE_PATH": str(Path(database.split(":///", 1)[1]).with_name(f"{name}.pickle")),
        "CHAT_BURST_MESSAGES": "1000",
        "HEALTH_PORT": str(free_port()),
    }


# --- two replicas, one killed --------------------------------------------------------------


@pytest.fixture(scope="module")
async def replica_telegram() -> AsyncIterator[TelegramEmulator]:
    """An emulator of this module's own: the session's gateway polls the shared one."""
    async with TelegramEmulator(token=BOT_TOKEN) as emulator:
        yield emulator


@pytest.fixture(scope="module")
async def replicas(
    action_server: RunningService, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[RunningService]]:
    """Two Rasa replicas on one action server and one tracker store of their own."""
    store = tmp_path_factory.mktemp("replicas") / "trackers.db"
    running = []
    for name in ("a", "b"):
        port = free_port()
        service = rasa_service(port, action_server.url, log_path=LOG_DIR / f"rasa-{name}.log")
        service.env["TRACKER_STORE_URL"] = f"sqlite:///{store}"
        running.append(RunningService(service, f"http://127.0.0.1:{port}"))
    try:
        await asyncio.gather(*(replica.start() for replica in running))
        yield running
    finally:
        await asyncio.gather(*(replica.stop() for replica in running))


@pytest.fixture(scope="module")
async def proxies(replicas: list[RunningService]) -> AsyncIterator[list[RecordingProxy]]:
    started = [RecordingProxy(replica.url, free_port()) for replica in replicas]
    for proxy in started:
        await proxy.start()
    yield started
    for proxy in started:
        await proxy.stop()


@pytest.fixture(scope="module")
async def replica_gateway(
    replica_telegram: TelegramEmulator, proxies: list[RecordingProxy], e2e_database: str
) -> AsyncIterator[dict[str, str]]:
    """The gateway with both replicas (through their proxies) in RASA_URL."""
    rasa_url = ",".join(proxy.url for proxy in proxies)
    env = gateway_env(replica_telegram, rasa_url, e2e_database, "replicas")
    service = gateway_service(env=env, log_path=LOG_DIR / "bot-replicas.log")
    await service.start()
    try:
        await replica_telegram.wait_until_polling(timeout=60)
        yield env
    finally:
        await service.stop()


class Chat:
    def __init__(self, telegram: TelegramEmulator, chat_id: int) -> None:
        self.tg = telegram
        self.id = chat_id

    async def say(self, text: str) -> dict:
        self.tg.push_text(self.id, text)
        [reply] = await self.tg.wait_for_messages(self.id, timeout=WAIT)
        return reply

    async def press(self, title: str) -> dict:
        self.tg.press_button(self.id, title)
        [reply] = await self.tg.wait_for_messages(self.id, timeout=WAIT)
        return reply

    async def start_registration(self) -> None:
        """Into the registration form, as far as its first question."""
        assert (await self.say("I want to attend a training"))["text"] == tx("ask_audience")
        menu = await self.press(tx("audience.motorists"))
        assert menu["text"].splitlines()[0] == tx("ask_session")
        when = spell_short_datetime("en", MOT_01)
        [session] = [title for title in buttons(menu) if when in title]
        assert (await self.press(session))["text"] == tx("ask_name")

    async def go_on(self) -> None:
        """The next two answers of the form: they need what the earlier turns kept."""
        assert (await self.say("Wanjiru Kamau"))["text"] == tx("ask_phone")
        assert (await self.say("0712 345 678"))["text"] == tx("ask_email")


async def test_chats_stay_on_their_replica_and_move_with_nothing_lost_when_it_is_killed(
    replica_telegram, replicas, proxies, replica_gateway, chat_id
):
    urls = [proxy.url for proxy in proxies]
    homes: dict[str, list[int]] = {url: [] for url in urls}
    candidate = chat_id + 300_000  # chats of this test only
    while min(len(chats) for chats in homes.values()) < CHATS_PER_REPLICA:
        home = rendezvous_order(urls, str(candidate))[0]
        if len(homes[home]) < CHATS_PER_REPLICA:
            homes[home].append(candidate)
        candidate += 1
    chats = {c: Chat(replica_telegram, c) for chat_ids in homes.values() for c in chat_ids}

    # Spread over both replicas, and each chat's three turns on its own one.
    await asyncio.gather(*(chat.start_registration() for chat in chats.values()))
    for proxy in proxies:
        assert sorted(proxy.answered) == sorted(str(c) for c in homes[proxy.url] for _ in "123")
        assert proxy.dropped == []

    # Replica a dies in the middle of its chats' forms.
    killed, survivor = replicas[0].service, proxies[1]
    assert killed.process is not None
    os.killpg(killed.process.pid, signal.SIGKILL)
    await killed.process.wait()
    before = {str(c): survivor.turns_of(str(c)) for c in chats}

    # Every chat goes on: a's on b, where the form continues from the shared tracker store,
    # each turn answered once (an apology or a repeat would be read instead of the question).
    await asyncio.gather(*(chat.go_on() for chat in chats.values()))
    for c in chats:
        assert survivor.turns_of(str(c)) - before[str(c)] == 2
    assert set(proxies[0].dropped) <= {str(c) for c in homes[urls[0]]}
    status, health = await get_json(f"http://127.0.0.1:{replica_gateway['HEALTH_PORT']}/ready")
    assert status == 200
    assert [(item["url"], item["ready"]) for item in health["rasa"]] == [
        (urls[0], False),
        (urls[1], True),
    ]


# --- the start: no updates before a replica is ready -------------------------------------


@pytest.fixture
async def lone_telegram() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token=BOT_TOKEN) as emulator:
        yield emulator


@pytest.fixture
async def not_ready_rasa() -> AsyncIterator[ReplicaServer]:
    server = ReplicaServer(FakeRasaReplica("gate", rasa_api_params()["token"]), free_port())
    server.replica.ready = False
    await server.start()
    yield server
    await server.stop()


async def test_the_gateway_takes_no_update_until_a_rasa_replica_is_ready(
    lone_telegram, not_ready_rasa, e2e_database, chat_id
):
    lone_telegram.push_text(chat_id, "hello")
    env = gateway_env(lone_telegram, not_ready_rasa.url, e2e_database, "gate")
    health = f"http://127.0.0.1:{env['HEALTH_PORT']}"
    service = gateway_service(env=env, log_path=LOG_DIR / "bot-gate.log")
    await service.start()
    try:
        # It has asked Rasa twice, so it is in its wait, with the update pushed before.
        await asyncio.wait_for(not_ready_rasa.replica.asked_ready(2), WAIT)
        assert await get_json(f"{health}/live") == (200, {"live": True})
        status, report = await get_json(f"{health}/ready")
        assert status == 503
        assert report["reason"] == (
            "not taking updates (waiting for Rasa, or stopping); "
            f"no Rasa replica is ready: {not_ready_rasa.url}: no model loaded"
        )
        assert lone_telegram.calls("getUpdates") == []
        assert [u["message"]["text"] for u in lone_telegram.pending_updates()] == ["hello"]

        not_ready_rasa.replica.ready = True
        [reply] = await lone_telegram.wait_for_messages(chat_id, timeout=WAIT)
        assert reply["text"] == "gate: hello"
        status, report = await get_json(f"{health}/ready")
        assert (status, report["ready"], report["database"]) == (200, True, "ok")
    finally:
        await service.stop()


async def test_the_gateway_stops_waiting_after_rasa_wait_seconds(lone_telegram, e2e_database):
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = gateway_env(lone_telegram, nowhere, e2e_database, "gives-up") | {"RASA_WAIT_SECONDS": "1"}
    service = gateway_service(env=env)
    output = await exit_output(service.argv, service.env)
    assert (
        f"The gateway stops: no Rasa replica was ready within 1 s ({nowhere}: connection "
        "refused); RASA_WAIT_SECONDS sets how long the gateway waits"
    ) in output
    assert lone_telegram.calls("getUpdates") == []


# --- the action server's readiness -----------------------------------------------------------


async def test_the_action_server_is_ready_with_its_database(action_server):
    assert await get_json(f"{action_server.url}/ready") == (200, {"ready": True})


async def test_the_action_server_says_it_is_not_ready_without_its_database():
    port = free_port()
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    service = actions_service(port, env={"DATABASE_URL": nowhere})
    running = RunningService(service, f"http://127.0.0.1:{port}")
    await running.start()  # alive: its /health answers
    try:
        assert await get_json(f"{running.url}/ready") == (
            503,
            {"ready": False, "reason": "the database is unreachable (ConnectionRefusedError)"},
        )
    finally:
        await running.stop()


async def test_several_action_server_workers_need_one_code_pepper(e2e_database):
    workers = {"ACTION_SERVER_SANIC_WORKERS": "2", "DATABASE_URL": e2e_database}
    refused = actions_service(free_port(), env=workers | {"CODE_PEPPER": ""})
    output = await exit_output(refused.argv, refused.env)
    assert "ACTION_SERVER_SANIC_WORKERS=2 needs CODE_PEPPER" in output

    port = free_port()
    service = actions_service(port, env=workers | {"CODE_PEPPER": "one-pepper-for-all"})
    running = RunningService(service, f"http://127.0.0.1:{port}")
    await running.start()
    try:
        assert await get_json(f"{running.url}/ready") == (200, {"ready": True})
    finally:
        await running.stop()
