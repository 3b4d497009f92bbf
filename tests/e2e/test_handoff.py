"""Talking to a person end to end: a person's private chat → gateway (→ Rasa for the
request) → the agents' forum desk in the emulator, and the agents' topic → the person.

The session's gateway relays to one desk group paced at DESK_MESSAGES per DESK_SECONDS
(tests/support/desk.py). This module runs the gateway on a fixed clock inside working hours
(``open_desk``); the tests of closed hours, at the end, move it to a Saturday and a public
holiday. Each test wipes the earlier handoffs first, so its queue place is 1 and no wait
estimate exists unless the test itself claims one. Every sentence is compared with what
``ntsa_assistant.handoff.texts`` (and the card's locale keys) say.

Run with ``-s`` to see the relay's latency, person → desk and desk → person.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.core.language import choose_language
from ntsa_assistant.core.masking import mask_id_number
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.handoff import texts
from ntsa_assistant.handoff.hours import DEFAULT_HOURS, WorkingHours
from tests.support.desk import (
    DESK_CHAT_ID,
    DESK_MESSAGES,
    DESK_SECONDS,
    GatewayClock,
    desk_messages,
    desk_thread,
    forget_handoffs,
    handoffs,
    in_topic,
    topic_messages,
    topic_name,
    wait_until,
)
from tests.support.phrases import GIBBERISH
from tests.support.processes import RunningService, rasa_api_params

pytestmark = pytest.mark.e2e

WEEKDAY = "2026-12-07T10:00:00+03:00"  # a Monday morning: the desk is open
SATURDAY = "2026-12-05T10:00:00+03:00"
CHRISTMAS = "2026-12-25T10:00:00+03:00"  # a Friday, and a public holiday
WAIT = 40.0
LABEL = "Wanjiku"  # the emulator's default first name: the person's label at the desk
AGENT = "Agent"  # the first name of the desk group's default agent
OUTSIDER_ID = 42_999_001  # never added to the desk group


def card_line(key: str, **params: object) -> str:
    return t("en", f"handoff.desk.card.{key}", **params)


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def topic_titles(lang: str) -> list[str]:
    return [title for title, _ in texts.topic_question(lang)[1]]


def topic_button(lang: str, key: str) -> str:
    return dict((k, title) for title, k in texts.topic_question(lang)[1])[key]


def queue_text(lang: str, now: str = WEEKDAY, position: int = 1) -> str:
    """The queue message at ``now`` for a first handoff of the day (no wait estimate yet)."""
    instant = datetime.fromisoformat(now)
    hours = WorkingHours.parse(DEFAULT_HOURS)
    open_now = hours.is_open(instant)
    return texts.queued(
        lang,  # type: ignore[arg-type]
        position=position,
        estimate_minutes=None,
        open_now=open_now,
        next_opening=None if open_now else hours.next_opening(instant),
        holiday=hours.holiday(instant.date(), lang),
    )


def closure_answer(lang: str = "en") -> str:
    """The FAQ's answer to "when does TIMS close?" (the action server runs in real time)."""
    return faq.answer(Topic.CLOSURE, lang, datetime.now().astimezone()).text  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def desk_clock(gateway: RunningService, telegram: Any) -> AsyncIterator[GatewayClock]:
    probe = 796_000_001 + os.getpid() % 1000 * 1_000_000
    clock = GatewayClock(gateway, telegram, probe)
    yield clock
    await clock.set(None)


@pytest.fixture
async def fresh_desk(desk_clock: GatewayClock, e2e_database: str) -> GatewayClock:
    """No handoff before this test's (the clock as the test before left it)."""
    await forget_handoffs(e2e_database)
    return desk_clock


@pytest.fixture
async def open_desk(fresh_desk: GatewayClock) -> GatewayClock:
    """The gateway on a Monday morning, with no handoff before this test's."""
    await fresh_desk.set(WEEKDAY)
    return fresh_desk


class Person:
    """One person's private chat."""

    def __init__(self, telegram: Any, chat_id: int, lang: str = "en") -> None:
        self.tg, self.chat, self.lang = telegram, chat_id, lang

    async def read(self, count: int = 1) -> list[dict[str, Any]]:
        return await self.tg.wait_for_messages(self.chat, count=count, timeout=WAIT)

    async def say(self, text: str, count: int = 1) -> list[dict[str, Any]]:
        self.tg.push_text(self.chat, text)
        return await self.read(count)

    async def command(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        self.tg.push_command(self.chat, name)
        return await self.read(count)

    async def press(self, title: str, count: int = 1) -> list[dict[str, Any]]:
        self.tg.press_button(self.chat, title)
        return await self.read(count)


class DeskTopic:
    """A person's topic in the desk, read in order, and its agents."""

    def __init__(self, telegram: Any, thread: int) -> None:
        self.tg, self.thread, self.seen = telegram, thread, 0

    async def read(self, count: int = 1) -> list[dict[str, Any]]:
        found = await topic_messages(self.tg, self.thread, self.seen + count, timeout=WAIT)
        new = found[self.seen : self.seen + count]
        self.seen += count
        return new

    def agent(self, text: str, user: dict[str, Any] | None = None) -> None:
        self.tg.push_group_message(DESK_CHAT_ID, text, thread_id=self.thread, user=user)

    async def reply_to(self, text: str, user: dict[str, Any] | None = None) -> str:
        """An agent's line in the topic and the bot's one answer there."""
        self.agent(text, user)
        [answer] = await self.read()
        return str(answer["text"])


@dataclass
class Opened:
    handoff_id: int
    topic: DeskTopic
    card: str


def assert_question(message: dict[str, Any], lang: str) -> None:
    assert message["text"] == texts.topic_question(lang)[0]  # type: ignore[arg-type]
    assert buttons(message) == topic_titles(lang)


def assert_queued(message: dict[str, Any], lang: str, now: str = WEEKDAY) -> None:
    assert message["text"] == queue_text(lang, now)
    assert buttons(message) == [texts.leave_button(lang)]  # type: ignore[arg-type]


async def opened(telegram: Any, database: str, person: Person, lang: str) -> Opened:
    """After the queue message: the handoff row, its new topic (named for the person) and
    the context card, the topic's first message."""
    [row] = [r for r in handoffs(database, person.chat) if r["state"] != "closed"]
    assert row["state"] == "waiting"
    thread = await wait_until(lambda: desk_thread(database, person.chat), "the person's topic")
    topic = DeskTopic(telegram, thread)
    [card] = await topic.read()
    assert card["method"] == "sendMessage"
    assert card["text"].splitlines()[0] == card_line("title", number=row["id"])
    language = card_line(f"language_{lang}")
    assert card_line("who", label=LABEL, language=language) in card["text"].splitlines()
    name = texts.desk_topic_name(LABEL, lang, texts.WAITING, row["id"])
    assert topic_name(telegram, thread) == name
    return Opened(row["id"], topic, card["text"])


async def agent_command_handoff(
    telegram: Any, database: str, person: Person, topic: str = "pending"
) -> Opened:
    """/agent, a topic tapped, in the queue: the desk has the person's topic and card."""
    [question] = await person.command("agent")
    assert_question(question, person.lang)
    [queued] = await person.press(topic_button(person.lang, topic))
    assert_queued(queued, person.lang)
    found = await opened(telegram, database, person, person.lang)
    lines = found.card.splitlines()
    assert card_line("reason", reason=card_line("reason_command")) in lines
    assert card_line("topic", topic=texts.topic_title("en", topic)) in lines
    return found


async def claimed(topic: DeskTopic, person: Person, command: str = "/claim") -> None:
    topic.agent(command)
    [told] = await person.read()
    assert told["text"] == texts.claimed(person.lang, None)  # type: ignore[arg-type]
    [noted] = await topic.read()
    assert noted["text"] == texts.desk_claimed(AGENT)


# --- asking for a person -------------------------------------------------------------------


async def test_agent_command_in_english_opens_a_topic_with_the_card_first(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    found = await agent_command_handoff(telegram, e2e_database, person, "pending")
    assert not any(line.startswith(card_line("typed", text="")) for line in found.card.splitlines())
    assert card_line("no_proof") in found.card.splitlines()

    telegram.push_text(chat_id, "My logbook application is still pending")
    [relayed] = await found.topic.read()
    assert relayed["text"] == "My logbook application is still pending"
    assert relayed["copied_from"]["chat_id"] == chat_id
    assert telegram.unread(chat_id) == []  # the assistant did not answer it


@pytest.mark.parametrize("how", ["telegram_language", "wrote_kiswahili_first"])
async def test_agent_command_in_kiswahili(telegram, open_desk, e2e_database, chat_id, how):
    person = Person(telegram, chat_id, "sw")
    if how == "telegram_language":
        telegram.set_user(chat_id, language_code="sw")
    else:
        [answer] = await person.say("TIMS itafungwa lini?")
        assert answer["text"] == closure_answer("sw")
    found = await agent_command_handoff(telegram, e2e_database, person, "validate")
    assert topic_name(telegram, found.topic.thread).endswith("· SW")


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "I want to talk to a person"), ("sw", "nataka kuongea na mtu")],
)
async def test_asking_in_words_hands_off(telegram, open_desk, e2e_database, chat_id, lang, words):
    person = Person(telegram, chat_id, lang)
    [question] = await person.say(words)
    assert_question(question, lang)
    [queued] = await person.press(topic_button(lang, "login"))
    assert_queued(queued, lang)
    found = await opened(telegram, e2e_database, person, lang)
    lines = found.card.splitlines()
    assert card_line("reason", reason=card_line("reason_asked")) in lines
    assert any(words in line for line in lines), found.card  # the transcript shows it


async def test_the_reason_typed_in_words_reaches_the_card(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    [question] = await person.command("agent")
    assert_question(question, "en")
    typed = "The dealer has not released my logbook yet"
    [queued] = await person.say(typed)
    assert_queued(queued, "en")
    found = await opened(telegram, e2e_database, person, "en")
    lines = found.card.splitlines()
    assert card_line("typed", text=typed) in lines
    assert card_line("topic", topic=texts.topic_title("en", texts.OTHER)) in lines
    assert handoffs(e2e_database, chat_id)[-1]["typed_reason"] == typed


async def fallbacks(rasa_server: RunningService, candidates: tuple[str, ...]) -> list[str]:
    """The candidates the model really does not understand (NLU fallback)."""
    found = []
    async with aiohttp.ClientSession() as http:
        for text in candidates:
            url = f"{rasa_server.url}/model/parse"
            async with http.post(url, json={"text": text}, params=rasa_api_params()) as r:
                if (await r.json())["intent"]["name"] == "nlu_fallback":
                    found.append(text)
    return found


async def test_two_misses_then_the_person_button(
    telegram, open_desk, e2e_database, rasa_server, chat_id
):
    found = await fallbacks(rasa_server, GIBBERISH)
    misses = [text for text in found if choose_language(text, "en") == "en"]  # English replies
    assert len(misses) >= 2, f"the model classified the gibberish: only {misses} fell back"
    person = Person(telegram, chat_id)
    await person.say(misses[0])
    [second] = await person.say(misses[1])
    human = t("en", "faq.human_button")
    assert human in buttons(second)
    [question] = await person.press(human)
    assert_question(question, "en")
    [queued] = await person.press(topic_button("en", "closure"))
    assert_queued(queued, "en")
    found = await opened(telegram, e2e_database, person, "en")
    assert card_line("reason", reason=card_line("reason_misses")) in found.card.splitlines()
    assert misses[1] in found.card


async def test_the_card_shows_a_proven_id_masked_and_nothing_more(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    [ask_id] = await person.say("check my status")
    assert ask_id["text"] == t("en", "status.ask_id")
    [ask_proof] = await person.say("21000104")
    assert ask_proof["text"] == "\n\n".join(
        [
            t("en", "status.ask_proof", id=mask_id_number("21000104")),
            t("en", "status.code_alternative"),
        ]
    )
    telegram.push_contact(chat_id, "254700000104")  # the record's own phone: proven
    [answer] = await person.read()
    assert "21000104" not in answer["text"]

    found = await agent_command_handoff(telegram, e2e_database, person, "validate")
    assert card_line("proof", id=mask_id_number("21000104")) in found.card.splitlines()
    everything = "\n".join(m.get("text") or "" for m in desk_messages(telegram))
    for secret in ("21000104", "700000104", "0700 000 104", "0700000104"):
        assert secret not in everything


# --- with an agent --------------------------------------------------------------------------


async def test_a_conversation_with_an_agent_and_back_to_the_bot(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    found = await agent_command_handoff(telegram, e2e_database, person)
    topic = found.topic

    # Person → desk, timed from the push to the copy in the topic: once right after the
    # card (the tests' tiny group limit may hold it), once with the pace's window empty.
    timings: dict[str, float] = {}
    for name, text in (("after the card", "Hello, is anyone there?"), ("idle", "Hello again")):
        if name == "idle":
            await asyncio.sleep(DESK_SECONDS)  # not a wait for an event: the window empties
        started = time.monotonic()
        telegram.push_text(chat_id, text)
        [relayed] = await topic.read()
        timings[name] = time.monotonic() - started
        assert (relayed["method"], relayed["text"]) == ("copyMessage", text)

    photo = telegram.push_photo(chat_id, caption="my logbook")
    voice = telegram.push_voice(chat_id, duration=4)
    copies = await topic.read(2)
    for copy, pushed, kind in zip(copies, (photo, voice), ("photo", "voice"), strict=True):
        source = telegram.update(pushed)["message"]
        assert copy["method"] == "copyMessage"
        assert copy["copied_from"] == {"chat_id": chat_id, "message_id": source["message_id"]}
        assert kind in copy["message"]
    assert copies[0]["caption"] == "my logbook"

    await claimed(topic, person)
    await wait_until(
        lambda: (
            topic_name(telegram, topic.thread)
            == texts.desk_topic_name(LABEL, "en", texts.CLAIMED, found.handoff_id)
        ),
        "the topic renamed as claimed",
    )

    # Desk → person, timed from the agent's push to the copy in the private chat.
    started = time.monotonic()
    topic.agent("Karibu! Which application is it?")
    [reply] = await person.read()
    to_person = time.monotonic() - started
    assert (reply["method"], reply["text"]) == ("copyMessage", "Karibu! Which application is it?")
    print(
        "\nrelay latency: person → desk "
        + ", ".join(f"{ms * 1000:.0f} ms {name}" for name, ms in timings.items())
        + f"; desk → person {to_person * 1000:.0f} ms"
    )

    # A note and another command stay in the desk: the person's next message is the next
    # agent text, and the command got the desk's help.
    topic.agent("#note the dealer's paperwork is missing")
    assert await topic.reply_to("/status") == texts.desk_help()
    topic.agent("Please send the dealer's invoice number.")
    [next_one] = await person.read()
    assert next_one["text"] == "Please send the dealer's invoice number."

    assert await topic.reply_to("/done") == texts.desk_closed(AGENT, "done")
    back, rating = await person.read(2)
    assert back["text"] == texts.back_to_bot("en")
    question, stars = texts.rating_question("en")
    assert rating["text"] == question
    assert buttons(rating) == [title for title, _ in stars]
    thanks, done = await person.press(stars[3][0], count=2)
    assert thanks["text"] == texts.rating_thanks("en", 4)
    assert (done["method"], done["message_id"]) == ("editMessageReplyMarkup", rating["message_id"])
    assert buttons(telegram.message(chat_id, rating["message_id"])) == []  # rated once
    [row] = handoffs(e2e_database, chat_id)
    assert (row["state"], row["close_reason"], row["rating"]) == ("closed", "done", 4)
    await wait_until(
        lambda: (
            topic_name(telegram, topic.thread)
            == texts.desk_topic_name(LABEL, "en", texts.CLOSED, found.handoff_id)
        ),
        "the topic renamed as closed",
    )

    [answer] = await person.say("When does TIMS close?")
    assert answer["text"] == closure_answer()


async def test_claim_name_shows_the_agents_first_name_only(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    njeri = telegram.add_member(DESK_CHAT_ID, {"first_name": "Njeri", "last_name": "Mwangi"})
    topic.agent("/claim name", user=njeri)
    [told] = await person.read()
    assert told["text"] == texts.claimed("en", "Njeri")
    [noted] = await topic.read()
    assert noted["text"] == texts.desk_claimed("Njeri")
    # A second claim is refused, naming who has it.
    assert await topic.reply_to("/claim") == texts.desk_claimed("Njeri")
    assert handoffs(e2e_database, chat_id)[-1]["agent_name"] == "Njeri"


async def test_an_interrupted_registration_does_not_come_back(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    [ask] = await person.say("I want to attend a training")
    assert ask["text"] == t("en", "training.ask_audience")
    topic = (await agent_command_handoff(telegram, e2e_database, person, "training")).topic
    await claimed(topic, person)
    assert await topic.reply_to("/done") == texts.desk_closed(AGENT, "done")
    await person.read(2)  # back to the bot, and the rating question

    [answer] = await person.say("When does TIMS close?")
    assert answer["text"] == closure_answer()
    [again] = await person.say("thanks")
    assert again["text"] != t("en", "training.ask_audience")


# --- leaving ---------------------------------------------------------------------------------


async def test_cancel_while_waiting_leaves_the_queue(telegram, open_desk, e2e_database, chat_id):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    [left] = await person.command("cancel")
    assert left["text"] == texts.left_queue("en")
    [told] = await topic.read()
    assert told["text"] == texts.desk_cancelled()
    assert handoffs(e2e_database, chat_id)[-1]["close_reason"] == "cancelled"
    [answer] = await person.say("When does TIMS close?")
    assert answer["text"] == closure_answer()


async def test_the_leave_button_ends_a_claimed_conversation(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    await claimed(topic, person)
    [left] = await person.press(texts.leave_button("en"))
    assert left["text"] == texts.left_queue("en")
    [told] = await topic.read()
    assert told["text"] == texts.desk_person_left()
    [answer] = await person.say("When does TIMS close?")
    assert answer["text"] == closure_answer()


# --- what could go wrong ------------------------------------------------------------------


async def test_a_restart_in_the_middle_keeps_the_conversation(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    await claimed(topic, person)
    await open_desk.restart()

    telegram.push_text(chat_id, "Are you still there?")
    [relayed] = await topic.read()
    assert relayed["text"] == "Are you still there?"
    topic.agent("Yes, still here.")
    [reply] = await person.read()
    assert reply["text"] == "Yes, still here."


async def test_a_deleted_topic_is_made_again_with_the_card(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    found = await agent_command_handoff(telegram, e2e_database, person)
    old = found.topic.thread
    telegram.delete_topic(DESK_CHAT_ID, old)

    telegram.push_text(chat_id, "Hello?")
    thread = await wait_until(
        lambda: (new := desk_thread(e2e_database, chat_id)) not in (None, old) and new or None,
        "a new topic",
    )
    card, text = await topic_messages(telegram, thread, 2, timeout=WAIT)
    assert card["text"].splitlines()[0] == card_line("title", number=found.handoff_id)
    assert text["text"] == "Hello?"
    assert topic_name(telegram, thread) == texts.desk_topic_name(
        LABEL, "en", texts.WAITING, found.handoff_id
    )


async def test_a_non_member_in_the_topic_is_not_relayed(telegram, open_desk, e2e_database, chat_id):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    topic.agent("Send me your ID number", user={"id": OUTSIDER_ID, "first_name": "Mallory"})
    await claimed(topic, person)  # the next thing the person reads is the real agent's
    assert handoffs(e2e_database, chat_id)[-1]["agent_id"] != OUTSIDER_ID


async def test_done_typed_by_the_person_changes_nothing(telegram, open_desk, e2e_database, chat_id):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    await claimed(topic, person)
    telegram.push_text(chat_id, "/done")
    [relayed] = await topic.read()
    assert relayed["text"] == "/done"
    topic.agent("We're still talking.")
    [reply] = await person.read()
    assert reply["text"] == "We're still talking."
    assert handoffs(e2e_database, chat_id)[-1]["state"] == "claimed"


async def test_a_person_who_blocked_the_bot_is_reported_to_the_agent(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    await claimed(topic, person)
    telegram.block(chat_id)
    assert await topic.reply_to("Are you there?") == texts.desk_not_delivered()


async def test_block_needs_confirming_and_then_refuses_the_person(
    telegram, open_desk, e2e_database, chat_id
):
    person = Person(telegram, chat_id)
    topic = (await agent_command_handoff(telegram, e2e_database, person)).topic
    hours = Settings.model_fields["support_block_hours"].default
    assert await topic.reply_to("/block") == texts.desk_block_confirm(hours)
    until = datetime.fromisoformat(WEEKDAY) + timedelta(hours=hours)
    assert await topic.reply_to("/block confirm") == texts.desk_blocked(until)
    [told] = await person.read()
    assert told["text"] == texts.blocked("en", until)
    assert handoffs(e2e_database, chat_id)[-1]["close_reason"] == "blocked"

    [refused] = await person.command("agent")
    assert refused["text"] == texts.blocked("en", until)
    assert len(handoffs(e2e_database, chat_id)) == 1


# --- pacing ------------------------------------------------------------------------------------


def relayed_texts(messages: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The person's texts carried by the topic's messages, in order, and how many of those
    messages merged several."""
    found, merged = [], 0
    for message in messages:
        head, *lines = message["text"].splitlines()
        if message["method"] == "sendMessage" and lines:
            assert head == texts.desk_merged_header(len(lines))
            found += [line.removeprefix("• ") for line in lines]
            merged += 1
        else:
            found.append(message["text"])
    return found, merged


async def test_a_burst_is_paced_merged_and_complete(telegram, open_desk, e2e_database, chat_id):
    first, second = Person(telegram, chat_id), Person(telegram, chat_id + 1)
    calls_before = len(telegram.calls())
    seen: list[float] = []  # when each new desk message appeared (both cards included)
    watched = [len(desk_messages(telegram))]

    async def watch() -> None:
        while True:
            count = len(desk_messages(telegram))
            seen.extend([time.monotonic()] * (count - watched[0]))
            watched[0] = count
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    burst = [f"message {n} about my pending application" for n in range(1, 13)]
    try:
        topic = (await agent_command_handoff(telegram, e2e_database, first)).topic
        [question] = await second.command("agent")
        assert_question(question, "en")
        for n, text in enumerate(burst):
            telegram.push_text(chat_id, text)
            if n == 3:  # the other person queues in the middle of the burst
                telegram.press_button(second.chat, topic_button("en", "login"))
            await asyncio.sleep(0.4)  # the pace's own rate, with two cards also due
        [queued] = await second.read()
        assert queued["text"] == queue_text("en", position=2)

        def all_relayed() -> list[dict[str, Any]] | None:
            messages = in_topic(telegram, topic.thread)[1:]
            return messages if len(relayed_texts(messages)[0]) >= len(burst) else None

        messages = await wait_until(all_relayed, "the whole burst in the desk", WAIT)
        second_thread = await wait_until(lambda: desk_thread(e2e_database, second.chat), "topic")
        await topic_messages(telegram, second_thread, 1, timeout=WAIT)  # its card
    finally:
        watcher.cancel()

    got, merged = relayed_texts(messages)
    assert got == burst
    assert merged >= 1, "nothing waited for the pace, so nothing was merged"
    refused = [
        c
        for c in telegram.calls()[calls_before:]
        if c.status == 429 and c.params.get("chat_id") == DESK_CHAT_ID
    ]
    print(
        f"\nburst: {len(messages)} desk messages for {len(burst)} texts, "
        f"{merged} merged, {len(refused)} refused by the group limit and retried"
    )
    # No window of DESK_SECONDS held more than DESK_MESSAGES (what we saw arrive, give or
    # take the watcher's 5 ms), and there were enough messages for that to mean something.
    assert len(seen) > DESK_MESSAGES, seen
    for earlier, later in zip(seen, seen[DESK_MESSAGES:], strict=False):
        assert later - earlier >= DESK_SECONDS - 0.05, seen


# --- closed desk (last: the gateway moves to other days) ---------------------------------


@pytest.mark.parametrize("now", [SATURDAY, CHRISTMAS], ids=["saturday", "holiday"])
async def test_outside_working_hours_the_queue_says_when_agents_are_back(
    telegram, fresh_desk, e2e_database, chat_id, now
):
    await fresh_desk.set(now)
    person = Person(telegram, chat_id)
    [question] = await person.command("agent")
    assert_question(question, "en")
    [queued] = await person.press(topic_button("en", "pending"))
    assert_queued(queued, "en", now)
    hours = WorkingHours.parse(DEFAULT_HOURS)
    instant = datetime.fromisoformat(now)
    assert not hours.is_open(instant)
    if now == CHRISTMAS:
        holiday = hours.holiday(instant.date(), "en")
        assert holiday
        assert holiday in queued["text"]
    found = await opened(telegram, e2e_database, person, "en")
    asked = card_line("asked_closed", when=spell_datetime("en", instant))
    assert asked in found.card.splitlines()


# --- twenty at once, and forged buttons ---------------------------------------------------


async def test_twenty_people_at_once_each_get_one_place_and_one_topic(
    telegram, open_desk, e2e_database, chat_id
):
    people = [Person(telegram, chat_id + n * 1000) for n in range(20)]
    for person in people:
        telegram.push_command(person.chat, "/agent")
    for person in people:
        assert_question((await person.read())[0], "en")
    for person in people:
        telegram.press_button(person.chat, texts.topic_question("en")[1][-1][0])
    queued = [(await person.read())[0]["text"] for person in people]
    # Each was told a place in the queue. The clock is frozen here, so the twenty choices
    # tie on their instant and a place told is the snapshot of the moment it was taken.
    places = {queue_text("en", position=n) for n in range(1, 21)}
    assert all(text in places for text in queued)
    rows = [row for person in people for row in handoffs(e2e_database, person.chat)]
    assert len(rows) == 20  # one handoff each, nobody lost or doubled
    assert {row["state"] for row in rows} == {"waiting"}
    threads = await wait_until(
        lambda: (
            (found := [desk_thread(e2e_database, p.chat) for p in people]) and all(found) and found
        ),
        "twenty topics",
        timeout=90,
    )
    assert len(set(threads)) == 20
    assert [c for c in telegram.rejected() if c.params.get("chat_id") == DESK_CHAT_ID] == []


async def test_forged_handoff_buttons_change_nothing(telegram, open_desk, e2e_database, chat_id):
    """Someone else's rating, a leave with nothing to leave, a topic with no question: each
    sent twenty times at once by a modified client."""
    rated = Person(telegram, chat_id)
    telegram.push_command(rated.chat, "/agent")
    await rated.read()
    await rated.press(texts.topic_question("en")[1][0][0])
    [row] = handoffs(e2e_database, rated.chat)

    forger = Person(telegram, chat_id + 1000)
    [greeting] = await forger.command("/start")
    forged = [f"handoff:rate:{row['id']}:1", "handoff:leave", "handoff:topic:closure"]
    for data in forged * 20:
        telegram.push_callback(forger.chat, greeting["message_id"], data)
    [answer] = await forger.say("When does TIMS close?")  # served after all sixty
    assert answer["text"] == closure_answer()
    assert handoffs(e2e_database, forger.chat) == []
    [still] = handoffs(e2e_database, rated.chat)
    assert (still["state"], still["rating"]) == ("waiting", None)
