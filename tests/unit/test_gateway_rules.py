"""The gateway's own rules, without Telegram or Rasa: neutralising, parsing, dedupe,
splitting long texts, per-chat buttons, per-chat turns and their burst limit."""

from __future__ import annotations

import asyncio
import pickle
import time
from datetime import UTC, datetime

import pytest
from telegram import Chat, Message, Update

from bot.conversation import MAX_TEXT_LENGTH, Button, Conversation, Reply, neutralise, parse_replies
from bot.handlers.dedupe import SeenUpdates
from bot.handlers.throttle import BurstLimit, ChatTurns, Verdict
from bot.rasa_client import RasaUnavailable
from bot.render import MENU_SECONDS, TELEGRAM_TEXT_LIMIT, ChatButtons, inline_keyboard, split_text
from ntsa_assistant.core.i18n import t


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ('/faq_menu{"x": 1}', 'faq_menu{"x": 1}'),
        ("  /greet", "greet"),
        ("//greet", "greet"),
        ("/ /greet", "greet"),
        ("\u2003/greet", "greet"),  # unicode spaces that str.strip() removes
        ("When does TIMS close?", "When does TIMS close?"),
        ("a/b", "a/b"),
    ],
)
def test_typed_text_never_reaches_rasa_as_an_intent(typed: str, sent: str) -> None:
    assert neutralise(typed) == sent
    assert not neutralise(typed).strip().startswith("/")


def test_rasa_replies_become_buttons_and_custom_parts() -> None:
    raw = [
        {"recipient_id": "1", "text": "Pick one", "buttons": [{"title": "A", "payload": "/a"}]},
        {"recipient_id": "1", "custom": {"type": "remove_keyboard", "text": "ok"}},
        {"recipient_id": "1", "buttons": [{"title": "", "payload": "/x"}, "junk"]},
        {"recipient_id": "1", "image": "http://example.org/x.png"},
    ]
    assert parse_replies(raw) == [
        Reply(text="Pick one", buttons=(Button("A", "/a"),)),
        Reply(custom={"type": "remove_keyboard", "text": "ok"}),
    ]


def test_seen_updates_are_dropped_and_memory_is_bounded() -> None:
    seen = SeenUpdates(capacity=3)
    assert seen.first_time(1)
    assert not seen.first_time(1)
    for update_id in (2, 3, 4):
        assert seen.first_time(update_id)
    assert seen.first_time(1)  # forgotten after `capacity` newer ones


class _FakeRasa:
    """Stands in for the HTTP client only; the e2e tests use the real Rasa server."""

    def __init__(self, answer: list[dict] | Exception) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, dict]] = []

    async def send(self, sender: str, message: str, metadata: dict) -> list[dict]:
        self.sent.append((sender, message, metadata))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_a_huge_message_is_refused_politely_and_not_sent() -> None:
    rasa = _FakeRasa([])
    replies = await Conversation(rasa).user_text("1", "x" * (MAX_TEXT_LENGTH + 1), {})
    assert replies == [Reply(text=t("en", "common.too_long", limit=MAX_TEXT_LENGTH))]
    assert "shorter" in replies[0].text
    assert rasa.sent == []


async def test_rasa_down_becomes_an_apology_in_the_users_language() -> None:
    conversation = Conversation(_FakeRasa(RasaUnavailable("down")))
    [english] = await conversation.user_text("1", "When does TIMS close?", {})
    [swahili] = await conversation.user_text("1", "TIMS itafungwa lini?", {})
    assert english == Reply(text=t("en", "common.apology_unavailable"))
    assert swahili == Reply(text=t("sw", "common.apology_unavailable"))
    assert english.text.startswith("Sorry")
    assert swahili.text.startswith("Samahani")


async def test_forged_intent_text_is_sent_without_its_slash() -> None:
    rasa = _FakeRasa([{"text": "ok"}])
    await Conversation(rasa).user_text("1", '/set_language{"language": "sw"}', {"channel": "t"})
    assert rasa.sent == [("1", 'set_language{"language": "sw"}', {"channel": "t"})]


async def test_emoji_only_text_still_gets_an_answer() -> None:
    rasa = _FakeRasa([{"text": "I can help with…"}])
    [reply] = await Conversation(rasa).user_text("1", "🚗🚗🚗", {})
    assert reply == Reply(text="I can help with…")
    assert rasa.sent == [("1", "🚗🚗🚗", {})]


# ---------------------------------------------------------------- long replies


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("short", 4096, ["short"]),
        ("ab\ncd\nef", 5, ["ab\ncd", "ef"]),
        ("ab\ncd\n\nef", 5, ["ab\ncd", "ef"]),  # the blank line at the break is dropped
        ("abc\n\ndef", 6, ["abc", "def"]),
        ("one two three", 7, ["one two", "three"]),  # a line longer than a part: by words
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # no space: cut at the limit
        ("😀😀😀", 4, ["😀😀", "😀"]),  # Telegram counts UTF-16 units: an emoji is two
        ("a\n" + "b" * 5 + "\nc", 5, ["a", "bbbbb", "c"]),
    ],
)
def test_long_text_is_split_between_lines(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts


def test_a_long_answer_is_split_into_parts_that_fit_and_lose_no_line() -> None:
    lines = [f"• TIMS-MVR-2023-{n:06d}, Motor vehicle registration: waiting" for n in range(200)]
    text = "Open TIMS applications (200):\n" + "\n".join(lines)
    parts = split_text(text)
    # Lines of 59 characters: the header and 67 lines fill 4049, then 68 lines fill 4079.
    assert parts == [
        "\n".join(["Open TIMS applications (200):", *lines[:67]]),
        "\n".join(lines[67:135]),
        "\n".join(lines[135:]),
    ]
    assert all(len(p) <= TELEGRAM_TEXT_LIMIT for p in parts)
    assert "\n".join(parts) == text


# ---------------------------------------------------------------- buttons


def test_buttons_are_kept_per_chat_and_old_ones_are_forgotten_first() -> None:
    mine, theirs = ChatButtons({}, capacity=3), ChatButtons({}, capacity=3)
    first = mine.keep(Button("Closure", "/faq_closure"))
    token = mine.keep(Button("Login", "/faq_login"))
    assert token.startswith("b:")
    assert len(token.encode()) <= 64  # Telegram's limit for callback data
    assert mine.find(token) == Button("Login", "/faq_login")
    assert theirs.find(token) is None  # a token means nothing in another chat
    for n in range(100):  # another chat's flood of menus fills only that chat's store
        theirs.keep(Button(f"T{n}", "/faq_closure"))
    assert mine.find(first) == Button("Closure", "/faq_closure")
    mine.keep(Button("Why", "/faq_why"))
    mine.keep(Button("Contact", "/faq_contact"))  # the 4th: the least recently used goes
    assert mine.find(token) is None
    assert mine.find(first) == Button("Closure", "/faq_closure")
    assert mine.find({"payload": "/faq_closure"}) is None


def test_buttons_live_in_the_chats_own_state() -> None:
    chat_data: dict = {}
    token = ChatButtons(chat_data).keep(Button("Closure", "/faq_closure"))
    restored = pickle.loads(pickle.dumps(chat_data))  # what the persistence file keeps
    assert ChatButtons(restored).find(token) == Button("Closure", "/faq_closure")


def test_the_latest_menu_is_remembered_until_a_message_without_buttons() -> None:
    chat_data: dict = {}
    buttons = ChatButtons(chat_data)
    menu = Reply(text="Cancel it?", buttons=(Button("Yes, cancel it", "/a"), Button("No", "/b")))
    assert inline_keyboard(menu, buttons) is not None
    assert buttons.menu() == [Button("Yes, cancel it", "/a"), Button("No", "/b")]
    restored = ChatButtons(pickle.loads(pickle.dumps(chat_data)))  # kept across a restart
    assert restored.menu() == buttons.menu()
    assert inline_keyboard(Reply(text="Done."), buttons) is None
    assert buttons.menu() == []  # the latest message has no buttons: nothing to type for


def test_a_menu_too_old_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    buttons = ChatButtons({})
    inline_keyboard(Reply(text="?", buttons=(Button("Topics", "/faq_menu"),)), buttons)
    later = time.time() + MENU_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert buttons.menu() == []


# ---------------------------------------------------------------- one chat cannot stall others


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_past_the_limit_is_slowed_once_per_window() -> None:
    clock = _Clock()
    limit = BurstLimit(burst=3, window=10, clock=clock)
    assert [limit.verdict(1) for _ in range(5)] == [Verdict.ADMIT] * 3 + [
        Verdict.SLOW_DOWN,
        Verdict.DROP,
    ]
    assert limit.verdict(2) is Verdict.ADMIT  # other chats are counted on their own
    clock.now += 10.5
    assert limit.verdict(1) is Verdict.ADMIT  # the window has moved on
    assert limit.verdict(1, waiting=3) is Verdict.SLOW_DOWN  # too many still queued


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(id=chat_id, type=Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat))


async def test_a_chat_waiting_for_its_turn_holds_no_shared_slot() -> None:
    turns = ChatTurns(slots=2, limit=BurstLimit(burst=100, window=10))
    await turns.initialize()
    release, started = asyncio.Event(), []

    async def spam_turn(n: int) -> None:
        started.append(n)
        await release.wait()

    async def other_turn() -> str:
        return "answered"

    spam = [
        asyncio.create_task(turns.process_update(_update(n, 1), spam_turn(n))) for n in range(70)
    ]
    other = asyncio.create_task(turns.process_update(_update(99, 2), other_turn()))
    # The other chat is answered while the first spam turn still holds a slot and 69 wait.
    await asyncio.wait_for(other, timeout=5)
    assert started == [0]
    release.set()
    await asyncio.wait_for(asyncio.gather(*spam), timeout=5)
    assert started == list(range(70))  # one chat's turns: one at a time, in order


async def test_turns_past_the_burst_are_not_queued() -> None:
    turns = ChatTurns(slots=4, limit=BurstLimit(burst=2, window=10))
    await turns.initialize()
    release, seen = asyncio.Event(), []

    async def admitted() -> None:
        await release.wait()

    async def throttled(update: Update) -> None:
        seen.append(turns.verdict_for(update))

    queued = [asyncio.create_task(turns.process_update(_update(n, 1), admitted())) for n in (1, 2)]
    for n in (3, 4):  # run at once, while the admitted turns still wait
        update = _update(n, 1)
        await asyncio.wait_for(turns.process_update(update, throttled(update)), timeout=5)
    assert seen == [Verdict.SLOW_DOWN, Verdict.DROP]
    release.set()
    await asyncio.gather(*queued)
    assert turns.verdict_for(_update(3, 1)) is Verdict.ADMIT  # nothing left behind


def _desk_update(update_id: int, thread: int) -> Update:
    chat = Chat(id=-100_777, type=Chat.SUPERGROUP, is_forum=True)
    message = Message(update_id, datetime.now(UTC), chat, message_thread_id=thread)
    return Update(update_id, message=message)


async def test_agents_in_a_desk_are_never_burst_limited_and_each_topic_keeps_its_order() -> None:
    turns = ChatTurns(slots=8, limit=BurstLimit(burst=2, window=10))
    await turns.initialize()
    release, seen = asyncio.Event(), []

    async def agent_turn(update: Update) -> None:
        seen.append((update.update_id, turns.verdict_for(update)))
        if update.effective_message.message_thread_id == 1:
            await release.wait()

    first = asyncio.create_task(
        turns.process_update(_desk_update(1, 1), agent_turn(_desk_update(1, 1)))
    )
    await asyncio.sleep(0)
    topic_one = [
        asyncio.create_task(turns.process_update(u, agent_turn(u)))
        for u in (_desk_update(n, 1) for n in (2, 3, 4))
    ]
    other_topic = _desk_update(5, 2)  # another person's topic is not held up by topic 1
    await asyncio.wait_for(turns.process_update(other_topic, agent_turn(other_topic)), 5)
    assert [n for n, _ in seen] == [1, 5]
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *topic_one), 5)
    assert [n for n, _ in seen] == [1, 5, 2, 3, 4]  # topic 1 in order
    assert {verdict for _, verdict in seen} == {Verdict.ADMIT}  # 5 updates, burst 2: none slowed
