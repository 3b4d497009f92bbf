"""What gateway replicas share through Redis: update de-duplication, the per-chat burst
limit, each chat's state and the bot's Telegram rate budget; and the calls one turn makes.

Two clients with their own connection pools stand for two replicas; Redis is real
(``TEST_REDIS_URL``), each test under a key prefix of its own."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from telegram import Chat, Message, Update
from telegram.ext import ApplicationBuilder, ContextTypes, ExtBot

from bot.chat_store import RedisChatState
from bot.context import GatewayContext
from bot.conversation import Button, Reply
from bot.handlers import chat
from bot.handlers.dedupe import SharedSeenUpdates
from bot.handlers.throttle import ChatTurns, SharedBurstLimit, Verdict
from bot.rate_limiter import SharedRateLimiter, TelegramBudget
from bot.render import ChatButtons, inline_keyboard
from bot.shared_state import SharedRedis
from tests.support.databases import redis_replicas
from tests.support.telegram_emulator import TelegramEmulator

Replicas = Callable[[int], Awaitable[list[SharedRedis]]]


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    """``await replicas(n)``: n clients, each with its own connection pool (a replica of
    the gateway), under a key prefix of this test's own; its keys are deleted afterwards."""
    async with redis_replicas() as make:
        yield make


# ---------------------------------------------------------------- update de-duplication


async def test_an_update_reaching_two_replicas_at_once_is_taken_by_one(replicas: Replicas):
    first, second = (SharedSeenUpdates(shared) for shared in await replicas(2))
    claims = await asyncio.gather(*(replica.claim(700_000_001) for replica in [first, second] * 10))
    assert sorted(claims) == [False] * 19 + [True]
    assert await second.claim(700_000_002)  # another update is new to both
    assert not await first.claim(700_000_002)


async def test_an_update_seen_before_a_restart_is_still_a_duplicate(replicas: Replicas):
    [before] = await replicas(1)
    assert await SharedSeenUpdates(before).claim(700_000_003)
    await before.close()
    [after] = await replicas(1)  # the next process, a new connection
    assert not await SharedSeenUpdates(after).claim(700_000_003)


# ---------------------------------------------------------------- the per-chat burst limit


async def test_a_chats_burst_is_counted_across_replicas(replicas: Replicas):
    first, second = (SharedBurstLimit(shared, burst=3, window=10) for shared in await replicas(2))
    verdicts = [await replica.check(1001) for replica in [first, second] * 2 + [first]]
    assert verdicts == [Verdict.ADMIT] * 3 + [Verdict.SLOW_DOWN, Verdict.DROP]
    assert await second.check(1002) is Verdict.ADMIT  # another chat is counted on its own
    assert await second.check(1003, waiting=3) is Verdict.SLOW_DOWN  # too many queued here


async def test_twenty_updates_of_one_chat_at_once_admit_exactly_the_burst(replicas: Replicas):
    first, second = (SharedBurstLimit(shared, burst=3, window=10) for shared in await replicas(2))
    verdicts = await asyncio.gather(*(replica.check(1001) for replica in [first, second] * 10))
    assert sorted(v.value for v in verdicts) == sorted(
        [Verdict.ADMIT.value] * 3 + [Verdict.SLOW_DOWN.value] + [Verdict.DROP.value] * 16
    )


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(id=chat_id, type=Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat))


class _UnevenLimit:
    """Admits all, but the first answer is slower than the others: as Redis answers may
    come back in another order than asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def check(self, key: int, waiting: int = 0) -> Verdict:
        self.calls += 1
        if self.calls == 1:
            for _ in range(10):
                await asyncio.sleep(0)
        return Verdict.ADMIT


async def test_a_chats_turns_keep_their_order_when_the_limit_answers_out_of_order():
    turns = ChatTurns(slots=4, limit=_UnevenLimit())  # type: ignore[arg-type]
    await turns.initialize()
    ran: list[int] = []

    async def turn(n: int) -> None:
        ran.append(n)

    await asyncio.gather(*(turns.process_update(_update(n, 1), turn(n)) for n in range(5)))
    assert ran == [0, 1, 2, 3, 4]


async def test_shared_verdicts_reach_the_slow_down_answer(replicas: Replicas):
    [shared] = await replicas(1)
    turns = ChatTurns(slots=4, limit=SharedBurstLimit(shared, burst=1, window=10))
    await turns.initialize()
    release, seen = asyncio.Event(), []

    async def admitted() -> None:
        await release.wait()

    async def throttled(update: Update) -> None:
        seen.append(turns.verdict_for(update))

    queued = asyncio.create_task(turns.process_update(_update(1, 7), admitted()))
    for n in (2, 3):
        update = _update(n, 7)
        await asyncio.wait_for(turns.process_update(update, throttled(update)), timeout=5)
    assert seen == [Verdict.SLOW_DOWN, Verdict.DROP]
    release.set()
    await queued


# ---------------------------------------------------------------- each chat's state


def test_buttons_survive_a_round_trip_through_json():
    chat_data: dict = {}
    buttons = ChatButtons(chat_data)
    menu = Reply(text="Cancel it?", buttons=(Button("Yes", "/a"), Button("No", "/b")))
    markup = inline_keyboard(menu, buttons)
    assert markup is not None
    token = markup.inline_keyboard[0][0].callback_data
    restored = ChatButtons(json.loads(json.dumps(chat_data)))
    assert restored.find(token) == Button("Yes", "/a")
    assert restored.menu() == [Button("Yes", "/a"), Button("No", "/b")]


def test_buttons_kept_before_json_still_work():
    """State written by the pickle file before: an OrderedDict of tuples, a tuple menu."""
    chat_data: dict = {}
    buttons = ChatButtons(chat_data)
    token = buttons.keep(Button("Closure", "/faq_closure"))
    buttons.remember_menu([token])
    old = {
        "buttons": OrderedDict((k, tuple(v)) for k, v in chat_data["buttons"].items()),
        "menu": tuple(chat_data["menu"]),
    }
    restored = ChatButtons(pickle.loads(pickle.dumps(old)))
    assert restored.find(token) == Button("Closure", "/faq_closure")
    assert restored.menu() == [Button("Closure", "/faq_closure")]


async def test_a_chats_buttons_and_language_are_seen_by_the_other_replica(replicas: Replicas):
    first, second = (RedisChatState(shared) for shared in await replicas(2))
    on_first: dict = {"lang": "sw"}
    token = ChatButtons(on_first).keep(Button("Closure", "/faq_closure"))
    await first.update_chat_data(1001, on_first)

    on_second: dict = {}
    await second.refresh_chat_data(1001, on_second)
    assert on_second["lang"] == "sw"
    assert ChatButtons(on_second).find(token) == Button("Closure", "/faq_closure")
    assert await second.get_chat_data() == {}  # nothing is loaded up front


async def test_a_turns_changes_not_yet_written_are_not_replaced_by_the_older_copy(
    replicas: Replicas,
):
    [shared] = await replicas(1)
    state = RedisChatState(shared)
    chat_data: dict = {}
    ChatButtons(chat_data).keep(Button("Closure", "/faq_closure"))
    await state.update_chat_data(1001, chat_data)
    newer = ChatButtons(chat_data).keep(Button("Login", "/faq_login"))  # not written yet
    await state.refresh_chat_data(1001, chat_data)  # the chat's next update
    assert ChatButtons(chat_data).find(newer) == Button("Login", "/faq_login")


async def test_what_another_replica_wrote_later_replaces_the_local_copy(replicas: Replicas):
    first, second = (RedisChatState(shared) for shared in await replicas(2))
    on_first: dict = {"lang": "en"}
    on_second: dict = {}
    await first.update_chat_data(1001, on_first)
    await second.refresh_chat_data(1001, on_second)
    on_second["lang"] = "sw"
    await second.update_chat_data(1001, on_second)
    await first.refresh_chat_data(1001, on_first)
    assert on_first == {"lang": "sw"}


async def test_stored_state_that_is_not_json_is_never_unpickled(replicas: Replicas, tmp_path: Path):
    [shared] = await replicas(1)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    await shared.client.hset(
        shared.key("chat", 1001), mapping={"data": pickle.dumps(Payload()), "digest": b"x"}
    )
    chat_data: dict = {"lang": "en"}
    await RedisChatState(shared).refresh_chat_data(1001, chat_data)
    assert chat_data == {"lang": "en"}
    assert not marker.exists()


async def test_a_chat_is_dropped_for_every_replica(replicas: Replicas):
    first, second = (RedisChatState(shared) for shared in await replicas(2))
    await first.update_chat_data(1001, {"lang": "sw"})
    await first.drop_chat_data(1001)
    on_second: dict = {}
    await second.refresh_chat_data(1001, on_second)
    assert on_second == {}


# ---------------------------------------------------------------- the Telegram rate budget


async def _bots(tg: TelegramEmulator, replicas: list[SharedRedis], rate: int) -> list[ExtBot]:
    bots = [
        ExtBot(
            tg.token or "",
            base_url=tg.base_url,
            rate_limiter=SharedRateLimiter(TelegramBudget(shared, rate=rate)),
        )
        for shared in replicas
    ]
    for bot in bots:
        await bot.initialize()
    return bots


async def test_two_replicas_share_one_telegram_budget(replicas: Replicas):
    async with TelegramEmulator() as tg:
        chats = list(range(1001, 1021))
        for chat in chats:
            tg.set_user(chat)
        first, second = await _bots(tg, await replicas(2), rate=10)
        try:
            await asyncio.gather(
                *(
                    (first if n % 2 else second).send_message(chat, f"answer {chat}")
                    for n, chat in enumerate(chats)
                )
            )
        finally:
            await first.shutdown()
            await second.shutdown()
        calls = tg.calls("sendMessage")
        assert sorted(c.params["chat_id"] for c in calls if c.ok) == chats
        # 10 a second for both together: 10 at once, then one every 100 ms. (Each replica
        # on its own would let all 20 through at once.)
        arrived = sorted(c.at for c in calls)
        assert arrived[19] - arrived[0] > 0.9
        assert min(arrived[n + 1] - arrived[n] for n in range(10, 19)) > 0.08


async def test_a_429_pauses_every_replica_and_the_refused_message_is_sent_after_it(
    replicas: Replicas,
):
    async with TelegramEmulator() as tg:
        tg.set_user(1001)
        tg.set_user(1002)
        shared = await replicas(2)
        first, second = await _bots(tg, shared, rate=30)
        try:
            tg.rate_limit(count=1, retry_after=0.5)
            refused = asyncio.create_task(first.send_message(1001, "first"))
            pause = shared[0].key("telegram", "paused")
            async with asyncio.timeout(5):  # until the first replica has seen its 429
                while await shared[1].client.pttl(pause) <= 0:  # noqa: ASYNC110 - no event
                    await asyncio.sleep(0.01)
            await second.send_message(1002, "second")
            await refused
        finally:
            await first.shutdown()
            await second.shutdown()
        [rejected] = tg.rejected("sendMessage")
        sent = {c.params["chat_id"]: c for c in tg.calls("sendMessage") if c.ok}
        assert sorted(sent) == [1001, 1002]  # the refused message was retried, not dropped
        assert sent[1002].at - rejected.at > 0.4  # the other replica waited out retry_after
        assert sent[1001].at - rejected.at > 0.5  # PTB's retry: after retry_after


# ---------------------------------------------------------------- calls to Telegram per turn


async def _one_turn(
    tg: TelegramEmulator, produce: Callable[[], Awaitable[list[Reply]]], under_way: int = 0
) -> None:
    """One turn through the gateway's turn function; ``under_way``: other turns waiting."""
    tg.set_user(1001)
    application = (
        ApplicationBuilder()
        .token(tg.token or "")
        .base_url(tg.base_url)
        .context_types(ContextTypes(context=GatewayContext))
        .build()
    )
    application.bot_data["gateway"] = SimpleNamespace(turns_under_way=under_way)
    async with application:
        update = _update(1, 1001)
        context = GatewayContext(application, chat_id=1001, user_id=1001)
        await chat._answer(update, context, produce)


async def test_a_quick_answer_is_one_call_without_typing():
    async with TelegramEmulator() as tg:

        async def quick() -> list[Reply]:
            return [Reply(text="TIMS closes on 15 December.")]

        await _one_turn(tg, quick)
        assert [c.method for c in tg.calls() if c.method != "getMe"] == ["sendMessage"]


async def test_a_slow_answer_shows_typing_first(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(chat, "TYPING_AFTER_SECONDS", 0.05)
    async with TelegramEmulator() as tg:

        async def slow() -> list[Reply]:
            await tg.wait_for_calls("sendChatAction")
            return [Reply(text="TIMS closes on 15 December.")]

        await _one_turn(tg, slow)
        methods = [c.method for c in tg.calls() if c.method != "getMe"]
        assert methods == ["sendChatAction", "sendMessage"]
        assert tg.calls("sendChatAction")[0].params["action"] == "typing"


async def test_a_busy_gateway_spends_no_call_on_typing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(chat, "TYPING_AFTER_SECONDS", 0.01)
    async with TelegramEmulator() as tg:

        async def slow() -> list[Reply]:
            await asyncio.sleep(0.2)  # well past the moment typing would be shown
            return [Reply(text="TIMS closes on 15 December.")]

        await _one_turn(tg, slow, under_way=chat.TYPING_MAX_TURNS)
        assert [c.method for c in tg.calls() if c.method != "getMe"] == ["sendMessage"]
