"""One chat's turns one at a time and in update_id order across gateway replicas, through
Redis (bot/chat_order.py), and what happens when a replica dies or Redis is gone.

Each replica is a :class:`ChatTurns` (or a :class:`ChatOrder`) with a client and connection
pool of its own, on its own asyncio tasks; Redis is real (``TEST_REDIS_URL``), each test
under a key prefix of its own. A replica that dies is a real process, killed."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from telegram import Chat, Message, Update

from bot.chat_order import ChatOrder
from bot.handlers.throttle import BurstLimit, ChatTurns
from bot.shared_state import SharedRedis
from tests.support.databases import redis_replicas

ROOT = Path(__file__).resolve().parents[2]
CHAT = 4_200_001
LEASE = 1.0

Clients = Callable[..., Awaitable[list[SharedRedis]]]


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """``await clients(n)``: n clients of the test's Redis, each with its own connection pool
    (a replica), under a key prefix of this test's own; its keys are deleted afterwards."""
    async with redis_replicas() as make:
        yield make


def _update(update_id: int, chat_id: int = CHAT) -> Update:
    chat = Chat(id=chat_id, type=Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat))


async def _replica(shared: SharedRedis) -> ChatTurns:
    order = ChatOrder(shared, LEASE)
    turns = ChatTurns(slots=64, limit=BurstLimit(burst=100, window=10), order=order)
    await turns.initialize()
    return turns


def _order(turns: ChatTurns) -> ChatOrder:
    assert turns._order is not None
    return turns._order


async def _until_queued(order: ChatOrder, chat: int, update_ids: list[int]) -> None:
    """Waits until exactly ``update_ids`` of ``chat`` have their places in Redis."""
    async with asyncio.timeout(5):
        while await order.queued(str(chat)) != update_ids:  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.01)


class TurnLog:
    """What ran, in the order it started, and any turn that began while another of its
    chat was still running."""

    def __init__(self) -> None:
        self.started: dict[int, list[int]] = defaultdict(list)
        self.ended: dict[int, list[int]] = defaultdict(list)
        self.overlapping: list[int] = []
        self._running: dict[int, int] = defaultdict(int)

    async def turn(self, update: Update, hold: Awaitable[Any] | None = None) -> None:
        chat = update.effective_chat
        assert chat is not None
        self.started[chat.id].append(update.update_id)
        self._running[chat.id] += 1
        if self._running[chat.id] > 1:
            self.overlapping.append(update.update_id)
        try:
            # Long enough for a turn that wrongly ran alongside to be caught at it.
            await (hold if hold is not None else asyncio.sleep(0.05))
        finally:
            self._running[chat.id] -= 1
            self.ended[chat.id].append(update.update_id)


async def test_one_chats_updates_on_two_replicas_run_in_update_order_one_at_a_time(
    clients: Clients,
):
    a, b = [await _replica(shared) for shared in await clients(2)]
    log, release = TurnLog(), asyncio.Event()
    first = _update(10)
    tasks = [asyncio.create_task(a.process_update(first, log.turn(first, release.wait())))]
    await _until_queued(_order(a), CHAT, [10])
    # 11..13 reach the two replicas out of order while 10 is still being answered.
    for n, replica, queued in ((13, a, [10, 13]), (11, b, [10, 11, 13]), (12, a, [10, 11, 12, 13])):
        update = _update(n)
        tasks.append(asyncio.create_task(replica.process_update(update, log.turn(update))))
        await _until_queued(_order(a), CHAT, queued)
    assert log.started[CHAT] == [10]
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert log.started[CHAT] == [10, 11, 12, 13]
    assert log.overlapping == []
    assert await _order(b).queued(str(CHAT)) == []  # each left its place


async def test_twenty_chats_at_once_do_not_wait_on_each_other_and_each_keeps_its_order(
    clients: Clients,
):
    replicas = [await _replica(shared) for shared in await clients(2)]
    chats = [CHAT + n for n in range(20)]
    log, release, all_first = TurnLog(), asyncio.Event(), asyncio.Event()

    async def first_turn(update: Update) -> None:
        if sum(len(log.started[c]) for c in chats) == len(chats) - 1:
            all_first.set()
        await log.turn(update, release.wait())

    tasks = []
    for n, chat in enumerate(chats):
        update = _update(chat * 10 + 1, chat)
        replica = replicas[n % 2]
        tasks.append(asyncio.create_task(replica.process_update(update, first_turn(update))))
    # Every chat's first turn is running at once, on one replica or the other.
    await asyncio.wait_for(all_first.wait(), timeout=10)
    for chat in chats:
        for k in (2, 3, 4):
            update = _update(chat * 10 + k, chat)
            replica = replicas[(chat + k) % 2]
            tasks.append(asyncio.create_task(replica.process_update(update, log.turn(update))))
    for chat in chats:
        await _until_queued(_order(replicas[0]), chat, [chat * 10 + k for k in (1, 2, 3, 4)])
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
    assert {chat: log.started[chat] for chat in chats} == {
        chat: [chat * 10 + k for k in (1, 2, 3, 4)] for chat in chats
    }
    assert log.overlapping == []


CHILD = """
import asyncio, sys
from redis.asyncio import Redis
from bot.chat_order import ChatOrder
from bot.shared_state import SharedRedis

async def main(url, prefix, chat, lease):
    order = ChatOrder(SharedRedis(Redis.from_url(url), url, prefix), float(lease))
    async with order.turn(chat, 1):
        print("running", flush=True)
        await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_replica_killed_mid_turn_holds_its_chat_up_for_one_lease_only(
    clients: Clients, caplog: pytest.LogCaptureFixture
):
    [shared] = await clients(1)
    order = ChatOrder(shared, LEASE)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        shared.url,
        shared.prefix,
        str(CHAT),
        str(LEASE),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), timeout=30) == b"running\n"
        loop = asyncio.get_running_loop()
        started_at: list[float] = []

        async def next_turn() -> None:
            async with order.turn(str(CHAT), 2):
                started_at.append(loop.time())

        waiting = asyncio.create_task(next_turn())
        await _until_queued(order, CHAT, [1, 2])
        assert started_at == []
    finally:
        child.kill()  # SIGKILL: nothing of it runs again
        await child.wait()
    killed_at = loop.time()
    with caplog.at_level(logging.WARNING, logger="bot.chat_order"):
        await asyncio.wait_for(waiting, timeout=5 * LEASE)
    # The dead replica's place lapses within one lease of its last renewal (every third).
    assert LEASE / 3 <= started_at[0] - killed_at <= LEASE + 1.0
    assert f"chat {CHAT}: 1 turn(s) of a replica gone or stuck lost their place" in caplog.text
    assert await order.queued(str(CHAT)) == []


async def test_a_turn_longer_than_its_lease_keeps_its_place(clients: Clients):
    first, second = (ChatOrder(shared, lease_seconds=0.5) for shared in await clients(2))
    events: list[str] = []

    async def turn(order: ChatOrder, update_id: int, seconds: float) -> None:
        async with order.turn(str(CHAT), update_id):
            events.append(f"start {update_id}")
            await asyncio.sleep(seconds)
            events.append(f"end {update_id}")

    long_turn = asyncio.create_task(turn(first, 1, 1.6))  # three leases and more
    await _until_queued(first, CHAT, [1])
    await asyncio.wait_for(asyncio.gather(long_turn, turn(second, 2, 0)), timeout=5)
    assert events == ["start 1", "end 1", "start 2", "end 2"]


async def test_a_stuck_turn_lets_the_chat_go_on_after_its_longest_time(
    clients: Clients, caplog: pytest.LogCaptureFixture
):
    stuck_replica, other = await clients(2)
    stuck_order = ChatOrder(stuck_replica, lease_seconds=0.3, max_turn_seconds=0.9)
    order = ChatOrder(other, lease_seconds=0.3, max_turn_seconds=0.9)
    loop, release = asyncio.get_running_loop(), asyncio.Event()

    async def stuck() -> None:
        async with stuck_order.turn(str(CHAT), 1):
            await release.wait()

    holder = asyncio.create_task(stuck())
    await _until_queued(order, CHAT, [1])
    began = loop.time()
    with caplog.at_level(logging.WARNING, logger="bot.chat_order"):
        async with asyncio.timeout(3), order.turn(str(CHAT), 2):
            waited = loop.time() - began
    # Renewed until 0.9 s, then its lease (0.3 s) runs out.
    assert 0.6 <= waited <= 0.9 + 0.3 + 0.6
    assert f"chat {CHAT}: update 1 still running after 0.9 s" in caplog.text
    release.set()
    await holder
    assert await order.queued(str(CHAT)) == []


async def test_without_redis_a_replica_keeps_its_own_order_and_says_so(
    caplog: pytest.LogCaptureFixture,
):
    url = "redis://127.0.0.1:1/0"  # nothing listens: refused at once
    shared = SharedRedis(Redis.from_url(url), url)
    turns = ChatTurns(slots=8, limit=BurstLimit(100, 10), order=ChatOrder(shared, LEASE))
    await turns.initialize()
    log = TurnLog()
    with caplog.at_level(logging.WARNING, logger="bot.chat_order"):
        first = _update(1)
        # Held long enough for the others to be refused by Redis and try to run.
        tasks = [
            asyncio.create_task(turns.process_update(first, log.turn(first, asyncio.sleep(0.3))))
        ]
        for n in (2, 3):
            update = _update(n)
            tasks.append(asyncio.create_task(turns.process_update(update, log.turn(update))))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    await shared.close()
    assert log.started[CHAT] == [1, 2, 3]
    assert log.overlapping == []
    assert f"Redis unavailable, chat {CHAT}'s turns ordered in this process only" in caplog.text


class CountingRedis(Redis):
    """Counts the commands it sends (a script call is one EVALSHA, one round trip)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)


async def test_a_chat_writing_alone_costs_two_round_trips_a_turn(clients: Clients):
    [shared] = await clients(1, CountingRedis)
    order = ChatOrder(shared, LEASE)
    async with order.turn(str(CHAT + 1), 1):  # the scripts are loaded, if Redis had none
        pass
    assert isinstance(shared.client, CountingRedis)
    shared.client.sent.clear()
    for update_id in range(2, 7):
        async with order.turn(str(CHAT), update_id):
            pass
    assert shared.client.sent == ["EVALSHA"] * 10
