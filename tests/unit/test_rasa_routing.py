"""The gateway's client for several Rasa replicas (bot/rasa_client.py) against fake replicas
on 127.0.0.1: each chat lives on one replica, moves only when that one is down (refused,
or dropped the turn unanswered), never on a timeout, and goes home when its replica is
back. Then the start-up wait for a ready replica, and the gateway's health endpoint."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.health import Health
from bot.rasa_client import RasaClient, RasaNotReady, RasaUnavailable, rendezvous_order
from ntsa_assistant.storage.engine import create_engine
from tests.support.fake_rasa import FakeRasaReplica, ReplicaServer
from tests.support.processes import free_port

TOKEN = "replica-token"
CHATS = [str(700_100_000 + n) for n in range(60)]
FAKE_SCALE = ["http://rasa-1:5005", "http://rasa-2:5005", "http://rasa-3:5005"]


class Clock:
    """The client's monotonic clock, moved by hand: back-offs end when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def servers() -> AsyncIterator[list[ReplicaServer]]:
    started = [ReplicaServer(FakeRasaReplica(name, TOKEN), free_port()) for name in "abc"]
    for server in started:
        await server.start()
    yield started
    for server in started:
        await server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(servers: list[ReplicaServer], clock: Clock) -> AsyncIterator[RasaClient]:
    rasa = RasaClient([s.url for s in servers], 5.0, TOKEN, clock=clock)
    await rasa.start()
    yield rasa
    await rasa.close()


def by_url(servers: list[ReplicaServer], url: str) -> ReplicaServer:
    [server] = [s for s in servers if s.url == url]
    return server


def chat_homed_on(client: RasaClient, server: ReplicaServer) -> str:
    return next(chat for chat in CHATS if client.home_of(chat) == server.url)


async def said(client: RasaClient, chat: str, message: str) -> str:
    [reply] = await client.send(chat, message)
    return reply["text"]


# --- where a chat lives ---------------------------------------------------------------


async def test_each_chat_stays_on_one_replica_and_the_chats_spread_over_all(client, servers):
    for turn in ("hello", "when does TIMS close?"):
        for chat in CHATS:
            home = by_url(servers, client.home_of(chat))
            assert await said(client, chat, turn) == f"{home.replica.name}: {turn}"
    for server in servers:
        mine = {chat for chat in CHATS if client.home_of(chat) == server.url}
        assert server.replica.senders() == mine
        assert mine  # every replica has chats of its own
        assert len(server.replica.turns) == 2 * len(mine)


def test_every_gateway_computes_the_same_home_whatever_order_it_lists_the_replicas():
    for chat in CHATS:
        assert rendezvous_order(FAKE_SCALE, chat) == rendezvous_order(FAKE_SCALE[::-1], chat)
    homes = {rendezvous_order(FAKE_SCALE, chat)[0] for chat in CHATS}
    assert homes == set(FAKE_SCALE)


def test_losing_or_adding_a_replica_moves_only_that_replica_s_chats():
    lost, kept = FAKE_SCALE[2], FAKE_SCALE[:2]
    added = [*FAKE_SCALE, "http://rasa-4:5005"]
    for chat in CHATS:
        order = rendezvous_order(FAKE_SCALE, chat)
        if order[0] == lost:  # its chats go where each would go next
            assert rendezvous_order(kept, chat)[0] == order[1]
        else:
            assert rendezvous_order(kept, chat)[0] == order[0]
        new_home = rendezvous_order(added, chat)[0]
        assert new_home in (order[0], "http://rasa-4:5005")
    moved = [chat for chat in CHATS if rendezvous_order(added, chat)[0] == "http://rasa-4:5005"]
    assert moved  # the new replica takes a share, and only from the others' chats


# --- when a chat moves ------------------------------------------------------------------


async def test_a_refused_replica_s_chats_go_to_their_next_replica(client, servers):
    down = servers[0]
    chat = chat_homed_on(client, down)
    other_chat = next(c for c in CHATS if client.home_of(c) != down.url)
    await down.stop()
    second = by_url(servers, rendezvous_order(client.replicas, chat)[1])
    assert await said(client, chat, "hello") == f"{second.replica.name}: hello"
    assert await said(client, chat, "and again") == f"{second.replica.name}: and again"
    assert client.is_down(down.url)
    # A chat whose home is up stays where it is.
    home = by_url(servers, client.home_of(other_chat))
    assert await said(client, other_chat, "hi") == f"{home.replica.name}: hi"


async def test_a_turn_a_replica_drops_unanswered_goes_to_the_next_one_once(client, servers):
    dying = servers[1]
    dying.replica.die = True
    chat = chat_homed_on(client, dying)
    second = by_url(servers, rendezvous_order(client.replicas, chat)[1])
    assert await said(client, chat, "register me") == f"{second.replica.name}: register me"
    assert dying.replica.dropped == [(chat, "register me")]
    answered = [turn for s in servers for turn in s.replica.turns]
    assert answered == [(chat, "register me")]  # handled once, by the next replica
    assert client.is_down(dying.url)


async def test_a_slow_replica_s_turn_is_not_sent_again(servers, clock):
    slow = servers[2]
    slow.replica.hang = True
    rasa = RasaClient([s.url for s in servers], 0.5, TOKEN, clock=clock)
    await rasa.start()
    try:
        chat = chat_homed_on(rasa, slow)
        with pytest.raises(RasaUnavailable):
            await rasa.send(chat, "am I validated?")
        assert slow.replica.received.is_set()  # it had the turn, and may still answer it
        assert [turn for s in servers for turn in s.replica.turns] == []  # nobody else has
        assert not rasa.is_down(slow.url)
        slow.replica.hang = False
        assert await said(rasa, chat, "hello?") == f"{slow.replica.name}: hello?"
    finally:
        await rasa.close()


async def test_an_error_answer_is_not_sent_again(client, servers):
    failing = servers[0]
    failing.replica.error_status = 500
    chat = chat_homed_on(client, failing)
    with pytest.raises(RasaUnavailable, match="HTTP 500"):
        await client.send(chat, "hello")
    assert [turn for s in servers for turn in s.replica.turns] == []
    assert not client.is_down(failing.url)


async def test_chats_go_home_when_their_replica_is_back_and_ready(client, servers, clock):
    home = servers[0]
    chat = chat_homed_on(client, home)
    second = by_url(servers, rendezvous_order(client.replicas, chat)[1])
    await home.stop()
    assert await said(client, chat, "one") == f"{second.replica.name}: one"

    # Back, but not ready: still away, and only its readiness was asked.
    home.replica.ready = False
    await home.start()
    assert await said(client, chat, "two") == f"{second.replica.name}: two"  # back-off
    assert home.replica.ready_asked == 0
    clock.advance(1.0)
    assert await said(client, chat, "three") == f"{second.replica.name}: three"
    assert home.replica.ready_asked == 1
    assert home.replica.turns == []

    home.replica.ready = True
    clock.advance(1.0)  # the back-off doubled after the second look
    assert await said(client, chat, "four") == f"{second.replica.name}: four"
    clock.advance(1.0)
    assert await said(client, chat, "five") == f"{home.replica.name}: five"
    assert not client.is_down(home.url)
    assert home.replica.turns == [(chat, "five")]


async def test_with_every_replica_down_the_turn_is_an_apology_then_any_replica_back_answers(
    client, servers
):
    chat = CHATS[0]
    for server in servers:
        await server.stop()
    with pytest.raises(RasaUnavailable, match="connection refused"):
        await client.send(chat, "hello")
    assert all(client.is_down(s.url) for s in servers)
    # Marked down, back-offs not over: one comes back and is tried all the same.
    order = rendezvous_order(client.replicas, chat)
    last = by_url(servers, order[-1])
    await last.start()
    assert await said(client, chat, "hello again") == f"{last.replica.name}: hello again"
    assert not client.is_down(last.url)


async def test_a_parse_goes_to_any_replica_up(client, servers):
    await servers[1].stop()
    readings = [await client.parse("when does TIMS close?") for _ in range(6)]
    assert {reading[0][0] for reading in readings} == {"a_intent", "c_intent"}
    # Taken in turn; the one down passes its turns on to the next.
    assert [len(s.replica.parsed) for s in servers] == [2, 0, 4]


async def test_a_single_url_string_still_works(servers):
    rasa = RasaClient(servers[0].url, 5.0, TOKEN)
    await rasa.start()
    try:
        assert await said(rasa, CHATS[0], "hi") == "a: hi"
        assert rasa.replicas == (servers[0].url,)
    finally:
        await rasa.close()


# --- readiness ----------------------------------------------------------------------------


async def test_readiness_says_why_each_replica_is_not_ready(servers):
    servers[0].replica.ready = False
    servers[0].replica.not_ready_reason = "tracker store unreachable"
    await servers[1].stop()
    # The readiness route needs no token: a wrong one does not hide a ready replica.
    rasa = RasaClient([s.url for s in servers], 5.0, "wrong-token")
    await rasa.start()
    try:
        found = {item.url: (item.ready, item.reason) for item in await rasa.readiness()}
        assert found == {
            servers[0].url: (False, "tracker store unreachable"),
            servers[1].url: (False, "connection refused"),
            servers[2].url: (True, "ready"),
        }
        assert await rasa.is_ready()
        servers[2].replica.ready = False
        assert not await rasa.is_ready()
    finally:
        await rasa.close()


async def test_a_server_without_the_readiness_route_is_not_ready(servers):
    async def plain(_request: web.Request) -> web.Response:
        return web.json_response({"model_file": "models/old.tar.gz"})

    app = web.Application()
    app.router.add_get("/status", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    rasa = RasaClient([url], 5.0, None)
    await rasa.start()
    try:
        [found] = await rasa.readiness()
        assert (found.ready, found.reason) == (False, "HTTP 404: no /webhooks/health/ready")
    finally:
        await rasa.close()
        await runner.cleanup()


async def test_the_start_waits_until_a_replica_is_ready(client, servers):
    for server in servers:
        server.replica.ready = False
    await servers[2].stop()
    waiting = asyncio.create_task(client.wait_ready(0, poll=0.01))
    await asyncio.wait_for(servers[0].replica.asked_ready(2), 5)  # looked, and again
    assert not waiting.done()
    servers[1].replica.ready = True
    await asyncio.wait_for(waiting, 5)
    found = {item.url: item.reason for item in await client.readiness()}
    assert found[servers[1].url] == "ready"
    assert found[servers[0].url] == "no model loaded"


async def test_the_start_gives_up_after_its_limit_with_the_reasons(servers):
    for server in servers:
        server.replica.ready = False
    rasa = RasaClient([servers[0].url], 5.0, TOKEN)
    await rasa.start()
    try:
        with pytest.raises(RasaNotReady) as refused:
            await rasa.wait_ready(0.05, poll=0.01)
    finally:
        await rasa.close()
    assert f"{servers[0].url}: no model loaded" in str(refused.value)
    assert "RASA_WAIT_SECONDS" in str(refused.value)


# --- the gateway's health endpoint -----------------------------------------------------------


async def ready_report(health: Health) -> tuple[int, dict]:
    port = free_port()
    await health.start(port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/live") as live:
                assert (live.status, await live.json()) == (200, {"live": True})
            async with http.get(f"http://127.0.0.1:{port}/ready") as ready:
                return ready.status, await ready.json()
    finally:
        await health.stop()


@pytest.fixture
async def sqlite_engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'health.db'}")
    yield engine
    await engine.dispose()


async def test_health_is_ready_when_rasa_and_the_database_answer(client, sqlite_engine, servers):
    status, report = await ready_report(Health(client, sqlite_engine, None, lambda: True))
    assert status == 200
    assert report == {
        "ready": True,
        "rasa": [{"url": s.url, "ready": True, "reason": "ready"} for s in servers],
        "database": "ok",
        "redis": "not configured",
    }


async def test_health_is_not_ready_before_the_gateway_takes_updates(client, sqlite_engine):
    status, report = await ready_report(Health(client, sqlite_engine, None, lambda: False))
    assert status == 503
    assert report["reason"] == "not taking updates (waiting for Rasa, or stopping)"


async def test_health_names_what_is_missing(client, servers):
    for server in servers:
        server.replica.ready = False
    await servers[0].stop()
    nowhere = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        status, report = await ready_report(Health(client, nowhere, redis_url, lambda: True))
    finally:
        await nowhere.dispose()
    assert status == 503
    a, b, c = (s.url for s in servers)
    assert report["reason"] == (
        f"no Rasa replica is ready: {a}: connection refused; {b}: no model loaded; "
        f"{c}: no model loaded; the database is unreachable (ConnectionRefusedError); "
        "Redis is unreachable (ConnectionError)"
    )
    assert report["database"] == "the database is unreachable (ConnectionRefusedError)"
    assert report["redis"] == "Redis is unreachable (ConnectionError)"


@pytest.fixture
def redis_url() -> str:
    """The test Redis (TEST_REDIS_URL); skipped without one, except under CI."""
    url = os.environ.get("TEST_REDIS_URL", "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("TEST_REDIS_URL is not set, and CI must run the Redis tests")
    pytest.skip("TEST_REDIS_URL is not set: the Redis health check is not tried")


async def test_health_checks_redis_when_it_is_set(client, sqlite_engine, redis_url):
    status, report = await ready_report(Health(client, sqlite_engine, redis_url, lambda: True))
    assert (status, report["ready"], report["redis"]) == (200, True, "ok")
