"""FAQ and language actions, run with a real CollectingDispatcher and a Tracker from data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.faq import ActionAnswerFaq, ActionClarify, ActionShowFaqMenu, topics_of
from actions.language import ActionChooseLanguage, ActionSetLanguage
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic

BEFORE = datetime(2023, 12, 10, 9, tzinfo=NAIROBI)
DURING = datetime(2023, 12, 31, 9, tzinfo=NAIROBI)
AFTER = datetime(2024, 1, 5, 9, tzinfo=NAIROBI)

Start = Callable[[datetime], Coroutine[Any, Any, None]]


@pytest.fixture
async def clock_at(tmp_path: Path) -> AsyncIterator[Start]:
    """Starts the action server's resources (SQLite in tmp) with the clock at an instant."""

    async def start(now: datetime) -> None:
        await runtime.stop()
        url = f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}"
        page = "http://127.0.0.1:8080"  # FAQ_PAGE_URL, whatever the environment says
        await runtime.start(
            Settings(database_url=url, assistant_now=now, faq_page_url=page, _env_file=None)
        )

    yield start
    await runtime.stop()


def message(
    text: str, intent: str, *, entities: dict[str, str] | None = None, ranking=None
) -> dict[str, Any]:
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
        "intent_ranking": ranking or [{"name": intent, "confidence": 0.9}],
    }


def tracker(latest: dict[str, Any], *, language: str | None = None, before=()) -> Tracker:
    events = [{"event": "user", "text": m["text"], "parse_data": m} for m in (*before, latest)]
    return Tracker(
        sender_id="test",
        slots={"language": language},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action: Action, tr: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tr, {})
    return dispatcher.messages, events


def payloads(msg: dict[str, Any]) -> list[str]:
    return [b["payload"] for b in msg.get("buttons") or []]


def shown(msg: dict[str, Any]) -> tuple[str, list[str]]:
    """What the user sees of a message: its text and its button titles."""
    return msg["text"], [b["title"] for b in msg.get("buttons") or []]


def seen(answer: faq.Answer) -> tuple[str, list[str]]:
    return answer.text, [b.title for b in answer.buttons]


MENU_PAYLOADS = [f"/faq_{topic.value}" for topic in faq.MENU_TOPICS]


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (BEFORE, "When does TIMS close?", "goes offline at midnight"),
        (DURING, "When does TIMS close?", "offline right now"),
        (AFTER, "When does TIMS close?", "went offline"),
        (BEFORE, "TIMS itafungwa lini?", "itazimwa saa sita usiku"),
        (DURING, "Niaje, TIMS inaclose lini?", "imezimwa sasa hivi"),
        (AFTER, "tims itafungwa lini", "ilizimwa"),
    ],
)
async def test_answer_follows_the_clock_and_the_users_language(
    clock_at: Start, now: datetime, text: str, expected: str
) -> None:
    await clock_at(now)
    [msg], _ = await run(ActionAnswerFaq(), tracker(message(text, "faq_closure")))
    assert expected in msg["text"]
    assert payloads(msg) == ['/faq_more{"faq_topic":"closure"}']


async def test_a_clear_language_is_remembered_and_used_for_button_taps(clock_at: Start) -> None:
    await clock_at(BEFORE)
    _, events = await run(ActionAnswerFaq(), tracker(message("Mafunzo ni lini?", "faq_training")))
    assert events == [SlotSet("language", "sw")]
    tap = message(
        '/faq_more{"faq_topic":"training"}', "faq_more", entities={"faq_topic": "training"}
    )
    [msg], events = await run(ActionAnswerFaq(), tracker(tap, language="sw"))
    plain = faq.more(Topic.TRAINING, "sw", BEFORE).text
    link = "Soma haya kwenye ukurasa wa maswali: http://127.0.0.1:8080/sw/#training"
    assert msg["text"] == f"{plain}\n{link}"
    assert "mtandaoni" in msg["text"]
    assert events == []
    assert payloads(msg) == ["/training_register"]


async def test_typed_tell_me_more_continues_the_last_topic(clock_at: Start) -> None:
    await clock_at(BEFORE)
    earlier = message("how do I link my company", "faq_link_org")
    [msg], _ = await run(
        ActionAnswerFaq(), tracker(message("tell me more", "faq_more"), before=[earlier])
    )
    assert "authorised to act for the organisation" in msg["text"]
    [menu], _ = await run(ActionAnswerFaq(), tracker(message("tell me more", "faq_more")))
    assert shown(menu) == seen(faq.menu("en"))
    assert payloads(menu) == MENU_PAYLOADS


async def test_a_forged_topic_shows_the_menu(clock_at: Start) -> None:
    await clock_at(BEFORE)
    forged = message("/faq_more", "faq_more", entities={"faq_topic": "../../etc"})
    [msg], _ = await run(ActionAnswerFaq(), tracker(forged))
    assert shown(msg) == seen(faq.menu("en"))
    assert payloads(msg) == MENU_PAYLOADS


@pytest.mark.parametrize(
    ("intent", "text", "topic", "lang", "expected"),
    [
        ("greet", "hello", Topic.GREET, "en", "Hello!"),
        ("greet", "niaje", Topic.GREET, "sw", "Habari!"),
        ("thank", "asante", Topic.THANKS, "sw", "Karibu!"),
        ("goodbye", "bye", Topic.GOODBYE, "en", "Goodbye"),
        ("acknowledge", "ok", Topic.ACKNOWLEDGE, "en", "Alright"),
        ("bot_capabilities", "what can you do", Topic.CAPABILITIES, "en", "I answer questions"),
        (
            "out_of_scope",
            "tell me a joke please",
            Topic.OUT_OF_SCOPE,
            "en",
            "not something I can do",
        ),
        ("some_future_intent", "x", Topic.OUT_OF_SCOPE, "en", "not something I can do"),
    ],
)
async def test_small_talk_and_deflection(
    clock_at: Start, intent: str, text: str, topic: Topic, lang: str, expected: str
) -> None:
    await clock_at(AFTER)
    [msg], _ = await run(ActionAnswerFaq(), tracker(message(text, intent)))
    assert shown(msg) == seen(faq.answer(topic, lang, AFTER))
    assert expected in msg["text"]


@pytest.mark.parametrize("text", ["", "👍", "???", "x" * 4000, 'intent{"x":1}', "/faq_closure"])
async def test_odd_inputs_get_their_usual_answer_in_the_remembered_language(
    clock_at: Start, text: str
) -> None:
    await clock_at(DURING)
    expected = {
        ActionAnswerFaq: seen(faq.answer(Topic.OUT_OF_SCOPE, "sw", DURING)),
        ActionClarify: seen(faq.clarify("sw", [], repeated=False)),
        ActionShowFaqMenu: seen(faq.menu("sw")),
        ActionSetLanguage: (t("sw", "language.choose"), ["English", "Kiswahili"]),
    }
    for action, answer in expected.items():
        messages, _ = await run(action(), tracker(message(text, "nlu_fallback"), language="sw"))
        assert [shown(m) for m in messages] == [answer], action


async def test_menu_buttons_are_topic_intents_in_the_users_language(clock_at: Start) -> None:
    await clock_at(BEFORE)
    [msg], _ = await run(
        ActionShowFaqMenu(), tracker(message("/faq_menu", "faq_menu"), language="sw")
    )
    assert msg["text"].startswith("Ungependa kujua")
    assert shown(msg) == seen(faq.menu("sw"))
    assert payloads(msg) == MENU_PAYLOADS
    assert payloads(msg)[:2] == ["/faq_closure", "/faq_login"]


async def test_clarify_offers_the_likeliest_topics_then_a_person(clock_at: Start) -> None:
    await clock_at(BEFORE)
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.55},
        {"name": "faq_login", "confidence": 0.40},
        {"name": "greet", "confidence": 0.30},
        {"name": "faq_closure", "confidence": 0.25},
        {"name": "faq_validate", "confidence": 0.10},
        {"name": "faq_why", "confidence": 0.09},
    ]
    miss = message("tims ecitizen something", "nlu_fallback", ranking=ranking)
    [msg], _ = await run(ActionClarify(), tracker(miss))
    assert payloads(msg) == ["/faq_login", "/faq_closure", "/faq_validate", "/faq_menu"]
    second = message("blah blah tims", "nlu_fallback", ranking=ranking)
    [msg], _ = await run(ActionClarify(), tracker(second, before=[miss]))
    assert payloads(msg) == ['/human_handoff{"handoff_reason":"misses"}', "/faq_menu"]
    picked = message("/faq_login", "faq_login")
    [msg], _ = await run(ActionClarify(), tracker(second, before=[miss, picked]))
    # A miss after a success starts over.
    assert payloads(msg) == ["/faq_login", "/faq_closure", "/faq_validate", "/faq_menu"]


async def test_choose_language_offers_both(clock_at: Start) -> None:
    await clock_at(BEFORE)
    [msg], events = await run(
        ActionChooseLanguage(), tracker(message("/choose_language", "choose_language"))
    )
    assert [b["title"] for b in msg["buttons"]] == ["English", "Kiswahili"]
    assert [json.loads("{" + p.split("{", 1)[1]) for p in payloads(msg)] == [
        {"language": "en"},
        {"language": "sw"},
    ]
    assert events == []


@pytest.mark.parametrize(
    ("text", "entities", "lang"),
    [
        ('/set_language{"language":"sw"}', {"language": "sw"}, "sw"),
        ('/set_language{"language":"en"}', {"language": "en"}, "en"),
        ("naomba Kiswahili", {}, "sw"),
        ("speak Kiswahili please", {}, "sw"),
        ("in English please", {}, "en"),
    ],
)
async def test_set_language_remembers_the_choice(
    clock_at: Start, text: str, entities: dict[str, str], lang: str
) -> None:
    await clock_at(BEFORE)
    [msg], events = await run(
        ActionSetLanguage(), tracker(message(text, "set_language", entities=entities))
    )
    assert events == [SlotSet("language", lang)]
    assert shown(msg) == (t(lang, "language.set"), [])


async def test_set_language_without_a_language_asks(clock_at: Start) -> None:
    await clock_at(BEFORE)
    bad = message('/set_language{"language":"fr"}', "set_language", entities={"language": "fr"})
    [msg], events = await run(ActionSetLanguage(), tracker(bad))
    assert events == []
    assert shown(msg) == (t("en", "language.choose"), ["English", "Kiswahili"])
    assert payloads(msg) == ['/set_language{"language":"en"}', '/set_language{"language":"sw"}']


async def test_two_questions_in_one_message_are_both_answered_in_order(clock_at: Start) -> None:
    await clock_at(BEFORE)
    asked = message("when does TIMS close and are trainings free", "faq_closure+faq_training")
    first, second = (await run(ActionAnswerFaq(), tracker(asked)))[0]
    assert shown(first) == seen(faq.answer(Topic.CLOSURE, "en", BEFORE))
    assert shown(second) == seen(faq.answer(Topic.TRAINING, "en", BEFORE))


@pytest.mark.parametrize(
    ("intent", "topics"),
    [
        ("faq_closure+faq_training", [Topic.CLOSURE, Topic.TRAINING]),
        ("faq_login+faq_login", [Topic.LOGIN]),
        ("faq_closure+status_validation", [Topic.OUT_OF_SCOPE]),  # never half an answer
        ("", [Topic.OUT_OF_SCOPE]),
        (None, [Topic.OUT_OF_SCOPE]),
    ],
)
def test_topics_of_a_label(intent: str | None, topics: list[Topic]) -> None:
    assert topics_of(intent) == topics
