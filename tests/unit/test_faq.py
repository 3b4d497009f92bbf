"""FAQ answers: both languages, before / during / after the closure, days left."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic


def eat(*args: int) -> datetime:
    return datetime(*args, tzinfo=NAIROBI)


BEFORE = eat(2023, 12, 10, 9)
DURING = eat(2023, 12, 31, 9)
AFTER = eat(2024, 1, 5, 9)


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("now", [BEFORE, eat(2023, 12, 20), DURING, AFTER])
@pytest.mark.parametrize("topic", list(Topic))
def test_every_topic_renders_in_both_languages_at_every_phase(
    topic: Topic, now: datetime, lang: str
) -> None:
    answer = faq.answer(topic, lang, now)  # type: ignore[arg-type]
    assert answer.text.strip()
    for text in (answer.text, answer.more or "", *(b.title for b in answer.buttons)):
        assert "{" not in text
        assert "}" not in text
    assert len(answer.text) < 600  # a few lines, the rest behind "more"
    if answer.more:
        more_buttons = [b for b in answer.buttons if b.intent == faq.MORE]
        assert [b.entities for b in more_buttons] == [{"faq_topic": topic.value}]


def test_answers_differ_by_language() -> None:
    for topic in Topic:
        assert faq.answer(topic, "en", BEFORE).text != faq.answer(topic, "sw", BEFORE).text


def test_closure_before_says_when_and_how_long() -> None:
    en = faq.answer(Topic.CLOSURE, "en", BEFORE).text
    assert "midnight at the end of Friday, 29 December 2023" in en
    assert "in 19 days" in en
    assert "Monday, 1 January 2024" in en
    assert "Tuesday, 2 January 2024" in en
    sw = faq.answer(Topic.CLOSURE, "sw", BEFORE).text
    assert "Ijumaa, 29 Desemba 2023" in sw
    assert "baada ya siku 19" in sw
    assert "Jumatatu, 1 Januari 2024" in sw


def test_closure_on_the_last_open_day_says_tonight() -> None:
    assert "that is tonight" in faq.answer(Topic.CLOSURE, "en", eat(2023, 12, 29, 8)).text
    assert "usiku wa leo" in faq.answer(Topic.CLOSURE, "sw", eat(2023, 12, 29, 8)).text
    assert "in 1 day" in faq.answer(Topic.CLOSURE, "en", eat(2023, 12, 28, 23, 59)).text


def test_closure_during_and_after() -> None:
    during = faq.answer(Topic.CLOSURE, "en", DURING).text
    assert "offline right now" in during
    assert "Monday, 1 January 2024" in during
    assert "imezimwa sasa hivi" in faq.answer(Topic.CLOSURE, "sw", DURING).text
    after = faq.answer(Topic.CLOSURE, "en", AFTER)
    assert "went offline" in after.text
    assert "e-Citizen" in after.text
    assert "no longer used" in (after.more or "")
    assert "ilizimwa" in faq.answer(Topic.CLOSURE, "sw", AFTER).text
    # the very first instant of the closure and of the e-Citizen-only period
    assert "offline right now" in faq.answer(Topic.CLOSURE, "en", eat(2023, 12, 30)).text
    assert "went offline" in faq.answer(Topic.CLOSURE, "en", eat(2024, 1, 2)).text


def test_pending_deadline_counts_days_around_midnight_nairobi() -> None:
    text = faq.answer(Topic.PENDING, "en", eat(2023, 12, 13, 23, 59)).text
    assert "(2 days left)" in text
    assert "(1 day left)" in faq.answer(Topic.PENDING, "en", eat(2023, 12, 14, 0, 0)).text
    assert "(1 day left)" in faq.answer(Topic.PENDING, "en", eat(2023, 12, 14, 23, 59)).text
    last_day = faq.answer(Topic.PENDING, "en", eat(2023, 12, 15, 0, 0)).text
    assert "today is the last day" in last_day
    sw = faq.answer(Topic.PENDING, "sw", eat(2023, 12, 15, 23, 59)).text
    assert "leo ndiyo siku ya mwisho" in sw
    assert "zimebaki siku 5" in faq.answer(Topic.PENDING, "sw", BEFORE).text
    assert "imebaki siku 1" in faq.answer(Topic.PENDING, "sw", eat(2023, 12, 14, 8)).text


def test_a_passed_pending_deadline_says_what_to_do_now() -> None:
    before = faq.answer(Topic.PENDING, "en", eat(2023, 12, 16, 0, 0)).text
    assert "has passed" in before
    assert "right away" in before
    during = faq.answer(Topic.PENDING, "en", DURING).text
    assert "nothing can be completed now" in during
    after = faq.answer(Topic.PENDING, "en", AFTER).text
    assert "ecitizen.go.ke" in after
    assert "contact NTSA" in after
    assert "imepita" in faq.answer(Topic.PENDING, "sw", eat(2023, 12, 20)).text


def test_validation_names_every_category_and_urges_in_time() -> None:
    en = faq.answer(Topic.VALIDATE, "en", BEFORE).text
    for words in ("motorists", "dealers", "SACCOs", "insurance", "companies", "embassies", "MDAs"):
        assert words in en
    assert "before TIMS goes offline (in 19 days)" in en
    assert "do it now" in faq.answer(Topic.VALIDATE, "en", AFTER).text
    assert "balozi" in faq.answer(Topic.VALIDATE, "sw", BEFORE).text


def test_linking_an_organisation() -> None:
    en = faq.answer(Topic.LINK_ORG, "en", BEFORE).text
    assert "KRA PIN" in en
    assert "authorised to transact" in en
    assert "aliyeidhinishwa" in faq.answer(Topic.LINK_ORG, "sw", AFTER).text


def test_training_offers_the_bots_registration() -> None:
    answer = faq.answer(Topic.TRAINING, "en", BEFORE)
    assert "free" in answer.text
    assert "virtual" in answer.text
    assert "in 8 days" in answer.text
    assert "Monday, 18 December 2023" in answer.text
    commands = [b.intent for b in answer.buttons]
    assert commands == [faq.TRAINING_REGISTER, faq.MORE]
    assert "running now" in faq.answer(Topic.TRAINING, "en", eat(2023, 12, 20)).text
    assert "are over" in faq.answer(Topic.TRAINING, "en", AFTER).text
    assert "yanaendelea sasa" in faq.answer(Topic.TRAINING, "sw", eat(2023, 12, 22, 23)).text


def test_why_cites_the_directive_and_its_deadline() -> None:
    assert "(21 days left)" in faq.answer(Topic.WHY, "en", BEFORE).text
    assert "every ministry" in faq.answer(Topic.WHY, "en", BEFORE).text
    assert "directed" in faq.answer(Topic.WHY, "en", AFTER).text
    assert "iliagiza" in faq.answer(Topic.WHY, "sw", AFTER).text


def test_more_gives_the_longer_text_without_another_more_button() -> None:
    short = faq.answer(Topic.TRAINING, "sw", BEFORE)
    longer = faq.more(Topic.TRAINING, "sw", BEFORE)
    assert longer.text == short.more
    assert [b.intent for b in longer.buttons] == [faq.TRAINING_REGISTER]
    assert faq.more(Topic.WHY, "en", BEFORE).text == faq.answer(Topic.WHY, "en", BEFORE).text
    more_button = next(b for b in short.buttons if b.intent == faq.MORE)
    assert more_button.entities == {"faq_topic": "training"}


def test_menu_lists_every_topic_in_the_readers_language() -> None:
    menu = faq.menu("sw")
    assert [b.intent for b in menu.buttons] == [f"faq_{t}" for t in faq.MENU_TOPICS]
    assert menu.buttons[0].title == "TIMS inafungwa lini"
    assert faq.menu("en").buttons[0].title == "When TIMS closes"


def test_likely_topics_keep_menu_topics_above_the_floor() -> None:
    ranking = [
        (Topic.GREET, 0.5),
        (Topic.LOGIN, 0.2),
        (Topic.CLOSURE, 0.3),
        (Topic.LOGIN, 0.1),
        (Topic.WHY, 0.06),
        (Topic.PENDING, 0.05),
        (Topic.TRAINING, 0.01),
    ]
    assert faq.likely_topics(ranking) == [Topic.CLOSURE, Topic.LOGIN, Topic.WHY]
    assert faq.likely_topics([(Topic.TRAINING, 0.01)]) == []


def test_clarify_offers_topics_then_a_person() -> None:
    first = faq.clarify("en", [Topic.CLOSURE, Topic.LOGIN], repeated=False)
    assert [b.intent for b in first.buttons] == ["faq_closure", "faq_login", faq.MENU]
    again = faq.clarify("sw", [Topic.CLOSURE], repeated=True)
    assert [b.intent for b in again.buttons] == [faq.HUMAN, faq.MENU]
    assert again.buttons[0].payload == '/human_handoff{"handoff_reason":"misses"}'
    assert "bado sijaelewa" in again.text
    nothing = faq.clarify("en", [], repeated=False)
    assert [b.intent for b in nothing.buttons] == [faq.MENU]


def test_handoff_is_honest_that_no_agent_can_join_yet() -> None:
    assert "No support agent can join this chat yet" in faq.answer(Topic.HANDOFF, "en", AFTER).text


@pytest.mark.parametrize(
    ("value", "topic"),
    [("closure", Topic.CLOSURE), (" Closure ", Topic.CLOSURE), ("LINK_ORG", Topic.LINK_ORG)],
)
def test_parse_topic_accepts_known_topics(value: str, topic: Topic) -> None:
    assert faq.parse_topic(value) is topic


@pytest.mark.parametrize("value", [None, "", "x" * 5000, {"a": 1}, 42, "faq_closure"])
def test_parse_topic_rejects_anything_else(value: object) -> None:
    assert faq.parse_topic(value) is None


def test_every_menu_topic_has_a_stable_anchor_that_names_it_back() -> None:
    assert set(faq.ANCHORS) == set(faq.MENU_TOPICS)
    for topic in faq.MENU_TOPICS:
        name = faq.anchor(topic)
        assert re.fullmatch(r"[a-z0-9-]{1,64}", name)  # an HTML id and a deep-link argument
        assert faq.topic_for_anchor(name) is topic
        assert faq.topic_for_anchor(name.upper()) is topic
    assert faq.topic_for_anchor("faq_closure") is None
    assert faq.topic_for_anchor('/faq_more{"faq_topic":"closure"}') is None


@pytest.mark.parametrize(
    ("lang", "line"),
    [
        ("en", "Read this on the FAQ page: https://faq.example/en/#pending-transactions"),
        ("sw", "Soma haya kwenye ukurasa wa maswali: https://faq.example/sw/#pending-transactions"),
    ],
)
def test_more_ends_with_a_link_to_the_topics_section_of_the_page(lang: str, line: str) -> None:
    plain = faq.more(Topic.PENDING, lang, AFTER)  # type: ignore[arg-type]
    linked = faq.more(Topic.PENDING, lang, AFTER, page_url="https://faq.example/")  # type: ignore[arg-type]
    assert linked.text == f"{plain.text}\n{line}"
    assert linked.buttons == plain.buttons


def test_more_links_every_menu_topic_to_its_own_anchor_and_nothing_else() -> None:
    for topic in faq.MENU_TOPICS:
        text = faq.more(topic, "en", BEFORE, page_url="http://127.0.0.1:8080").text
        assert text.endswith(f"http://127.0.0.1:8080/en/#{faq.anchor(topic)}")
        assert "\n\n" not in text  # Rasa would send each paragraph as a message of its own
    # Small talk has no section on the page, so no link.
    greet = faq.more(Topic.GREET, "en", BEFORE, page_url="http://127.0.0.1:8080")
    assert greet.text == faq.answer(Topic.GREET, "en", BEFORE).text


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_out_of_scope_says_where_to_go_and_offers_a_person(lang: str) -> None:
    answer = faq.answer(Topic.OUT_OF_SCOPE, lang, AFTER)
    assert "ecitizen.go.ke" in answer.text
    assert "ntsa.go.ke" in answer.text
    assert [b.payload for b in answer.buttons] == [
        '/human_handoff{"handoff_reason":"gave_up"}',
        "/faq_menu",
    ]
