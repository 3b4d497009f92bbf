"""The FAQ (issue 3) end to end: emulator → gateway → Rasa → action server, in English,
Kiswahili and the mix, on three dates around TIMS's closure.

The action server's clock is set per group of tests (``action_clock``, tests/e2e/conftest.py);
the groups are written in clock order so the server restarts once per date. Tests that do
not depend on the date run on the last one (after the closure), like real time today.

Checks look for facts (dates, days left, "KRA PIN", "free"/"bure") and the reply's language,
and compare the whole reply with what the FAQ (ntsa_assistant.faq.answers) says for that
topic, language and date, so that rewording an answer changes both sides at once.
"""

from __future__ import annotations

import re
from datetime import datetime

import aiohttp
import pytest

from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.language import choose_language
from ntsa_assistant.core.settings import get_settings
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.handoff import texts as handoff_texts
from tests.support.phrases import GIBBERISH
from tests.support.processes import rasa_api_params

pytestmark = pytest.mark.e2e

# 19 days before TIMS goes offline (end of Friday 29 December) and 5 before the
# pending-applications deadline (end of Friday 15 December).
BEFORE = "2023-12-10T10:00:00+03:00"
DURING = "2023-12-31T10:00:00+03:00"  # TIMS offline until the end of Monday 1 January
AFTER = "2024-01-05T10:00:00+03:00"

TURN_TIMEOUT = 40.0

# Reply language by the style of the question: a code-mixed question is answered in Kiswahili.
REPLY_LANGUAGE = {"en": "en", "sw": "sw", "mixed": "sw"}
CLOCK = {
    name: datetime.fromisoformat(value)
    for name, value in [("before", BEFORE), ("during", DURING), ("after", AFTER)]
}


# --- helpers --------------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_SW_WORDS = _word_set(
    "na ya wa za la kwa ni kwenye hadi kuhusu au tu sawa samahani yako lako huduma "
    "kama kabla baada lazima kila bado hapa hiyo hivyo sasa"
)
_EN_WORDS = _word_set(
    "the and your you to is of on with from for in at it that this or if now i will be "
    "are was sorry"
)


def language_of(text: str) -> str | None:
    """A rough, independent reading of a reply's language from its function words."""
    words = re.findall(r"[a-z]+", text.lower())
    sw = sum(w in _SW_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    return "sw" if sw > en else "en" if en > sw else None


def assert_language(text: str, lang: str) -> None:
    assert language_of(text) == lang, f"expected a reply in {lang!r}, got: {text!r}"


def button_titles(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def shown(message: dict) -> tuple[str, list[str]]:
    """What the user sees of a reply: its text and its button titles."""
    return message["text"], button_titles(message)


def seen(answer: faq.Answer) -> tuple[str, list[str]]:
    return answer.text, [b.title for b in answer.buttons]


def answered(topic: Topic, lang: str, clock: str) -> tuple[str, list[str]]:
    """The FAQ's answer to ``topic`` as the user sees it at one of the module's clocks."""
    return seen(faq.answer(topic, lang, CLOCK[clock]))  # type: ignore[arg-type]


async def say(telegram, chat_id: int, text: str) -> dict:
    """Sends ``text`` as the user and returns the bot's one reply."""
    telegram.push_text(chat_id, text)
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=TURN_TIMEOUT)
    return reply


async def press(telegram, chat_id: int, title: str) -> dict:
    """Presses the newest inline button titled ``title`` and returns the bot's reply."""
    telegram.press_button(chat_id, title)
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=TURN_TIMEOUT)
    return reply


async def command(telegram, chat_id: int, name: str) -> dict:
    telegram.push_command(chat_id, name)
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=TURN_TIMEOUT)
    return reply


async def still_answers(telegram, chat_id: int) -> None:
    """The bot keeps working after an odd message: a plain question gets its answer."""
    reply = await say(telegram, chat_id, "When does TIMS close?")
    assert shown(reply) == answered(Topic.CLOSURE, "en", "after")


@pytest.fixture
async def before(gateway, action_clock) -> None:
    await action_clock.set(BEFORE)


@pytest.fixture
async def during(gateway, action_clock) -> None:
    await action_clock.set(DURING)


@pytest.fixture
async def after(gateway, action_clock) -> None:
    await action_clock.set(AFTER)


CLOSURE_QUESTIONS = {
    "en": "When does TIMS close?",
    "sw": "TIMS itafungwa lini?",
    "mixed": "Niaje, TIMS inaclose lini?",
}
STYLES = list(CLOSURE_QUESTIONS)


# --- before the closure (10 December 2023) --------------------------------------------


@pytest.mark.parametrize("style", STYLES)
async def test_before_the_closure_tims_will_close(telegram, chat_id, before, style):
    reply = await say(telegram, chat_id, CLOSURE_QUESTIONS[style])
    assert shown(reply) == answered(Topic.CLOSURE, REPLY_LANGUAGE[style], "before")
    text = reply["text"]
    if REPLY_LANGUAGE[style] == "en":
        assert "goes offline" in text
        assert "29 December 2023" in text
        assert "in 19 days" in text
        assert "went offline" not in text
    else:
        assert "itazimwa" in text
        assert "29 Desemba 2023" in text
        assert "baada ya siku 19" in text
        assert "ilizimwa" not in text
    assert_language(text, REPLY_LANGUAGE[style])


PENDING_QUESTIONS = {
    "en": "When is the deadline for pending TIMS applications?",
    "sw": "Maombi yangu ambayo hayajakamilika kwenye TIMS yatakuwaje?",
    "mixed": "application yangu iko pending kwa TIMS, nifanye aje?",
}


@pytest.mark.parametrize("style", STYLES)
async def test_before_the_deadline_pending_answer_counts_the_days_left(
    telegram, chat_id, before, style
):
    reply = await say(telegram, chat_id, PENDING_QUESTIONS[style])
    assert shown(reply) == answered(Topic.PENDING, REPLY_LANGUAGE[style], "before")
    text = reply["text"]
    if REPLY_LANGUAGE[style] == "en":
        assert "15 December 2023" in text
        assert "5 days left" in text
    else:
        assert "15 Desemba 2023" in text
        assert "zimebaki siku 5" in text
    assert_language(text, REPLY_LANGUAGE[style])


# --- during the closure (31 December 2023) --------------------------------------------


@pytest.mark.parametrize("style", STYLES)
async def test_during_the_closure_tims_is_closed_until(telegram, chat_id, during, style):
    reply = await say(telegram, chat_id, CLOSURE_QUESTIONS[style])
    assert shown(reply) == answered(Topic.CLOSURE, REPLY_LANGUAGE[style], "during")
    text = reply["text"]
    if REPLY_LANGUAGE[style] == "en":
        assert "offline right now" in text
        assert "until the end of Monday, 1 January 2024" in text
        assert "goes offline" not in text
    else:
        assert "imezimwa sasa" in text
        assert "hadi mwisho wa Jumatatu, 1 Januari 2024" in text
        assert "itazimwa" not in text
    assert_language(text, REPLY_LANGUAGE[style])


async def test_during_the_closure_pending_answer_says_the_deadline_passed(
    telegram, chat_id, during
):
    reply = await say(telegram, chat_id, PENDING_QUESTIONS["en"])
    assert shown(reply) == answered(Topic.PENDING, "en", "during")
    text = reply["text"]
    assert "15 December 2023" in text
    assert "1 January 2024" in text  # nothing can be completed while TIMS is offline
    assert "days left" not in text


# --- after the closure (5 January 2024) -----------------------------------------------


@pytest.mark.parametrize("style", STYLES)
async def test_after_the_closure_tims_closed_use_ecitizen(telegram, chat_id, after, style):
    reply = await say(telegram, chat_id, CLOSURE_QUESTIONS[style])
    assert shown(reply) == answered(Topic.CLOSURE, REPLY_LANGUAGE[style], "after")
    text = reply["text"]
    if REPLY_LANGUAGE[style] == "en":
        assert "went offline" in text
        assert "29 December 2023" in text
        assert "e-Citizen" in text
        assert "goes offline" not in text
        assert "stays off" not in text
    else:
        assert "ilizimwa" in text
        assert "29 Desemba 2023" in text
        assert "e-Citizen" in text
        assert "itazimwa" not in text
    assert_language(text, REPLY_LANGUAGE[style])


# Every menu topic, asked in each style, with one fact its answer must carry (en, sw).
TOPIC_CASES: dict[str, tuple[dict[str, str], tuple[str, str]]] = {
    "closure": (
        {
            "en": "Until when will the TIMS system be down?",
            "sw": "Mfumo wa TIMS utazimwa lini?",
            "mixed": "msee, tims itakuwa down mpaka lini?",
        },
        ("29 December 2023", "29 Desemba 2023"),
    ),
    "login": (
        {
            "en": "How will I log in after TIMS is gone?",
            "sw": "Nitaingia vipi kwenye huduma za NTSA baada ya TIMS kufungwa?",
            "mixed": "nitalogin aje baada ya tims kuclose?",
        },
        ("password", "nenosiri"),
    ),
    "pending": (
        {
            "en": "I have a pending application on TIMS, what should I do?",
            "sw": "Nina ombi ambalo halijakamilika kwenye TIMS, nifanye nini?",
            "mixed": "application yangu iko pending kwa TIMS, nifanye aje?",
        },
        ("15 December 2023", "15 Desemba 2023"),
    ),
    "validate": (
        {
            "en": "Do I have to validate my e-Citizen account?",
            "sw": "Je, lazima nithibitishe akaunti yangu ya e-Citizen?",
            "mixed": "lazima ni-validate account yangu ya ecitizen?",
        },
        ("embassies", "balozi"),
    ),
    "link_org": (
        {
            "en": "How do I add my company to my e-Citizen account?",
            "sw": "Nitaunganishaje kampuni yangu na akaunti ya e-Citizen?",
            "mixed": "nitalink company yangu aje kwa ecitizen?",
        },
        ("KRA PIN", "KRA PIN"),
    ),
    "training": (
        {
            "en": "When are the e-Citizen trainings and do I have to pay?",
            "sw": "Mafunzo ya e-Citizen yatakuwa lini?",
            "mixed": "training za ecitizen ni lini na ni za pesa ngapi?",
        },
        ("free", "bure"),
    ),
    "why": (
        {
            "en": "Why is NTSA moving to e-Citizen?",
            "sw": "Kwa nini NTSA inahamia e-Citizen?",
            "mixed": "mbona ntsa wanahamia ecitizen?",
        },
        ("ministry", "wizara"),
    ),
    "contact": (
        {
            "en": "Where can I get more help?",
            "sw": "Nitapata msaada zaidi wapi?",
            "mixed": "nikikwama na ecitizen nitapata help wapi?",
        },
        ("website", "tovuti"),
    ),
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("topic", list(TOPIC_CASES))
async def test_each_topic_is_answered_in_the_users_language(telegram, chat_id, after, topic, style):
    questions, (fact_en, fact_sw) = TOPIC_CASES[topic]
    reply = await say(telegram, chat_id, questions[style])
    lang = REPLY_LANGUAGE[style]
    assert (fact_en if lang == "en" else fact_sw) in reply["text"], reply["text"]
    assert shown(reply) == answered(Topic(topic), lang, "after")
    assert_language(reply["text"], lang)


async def test_training_answer_offers_the_bots_registration(telegram, chat_id, after):
    reply = await say(telegram, chat_id, "Is the e-Citizen training free?")
    assert shown(reply) == answered(Topic.TRAINING, "en", "after")
    assert "free" in reply["text"]
    assert "Register for training" in button_titles(reply)


# --- /faq: topics as buttons ----------------------------------------------------------

MENU_TITLES_EN = [
    "When TIMS closes",
    "Signing in afterwards",
    "Pending applications",
    "Validating your account",
    "Linking an organisation",
    "Free training",
    "Why the move",
    "More help",
]


async def test_faq_shows_the_topics_and_a_button_answers_with_more(telegram, chat_id, after):
    menu = await command(telegram, chat_id, "faq")
    assert button_titles(menu) == MENU_TITLES_EN
    assert shown(menu) == seen(faq.menu("en"))

    answer = await press(telegram, chat_id, "Pending applications")
    assert "15 December 2023" in answer["text"]
    assert "Tell me more" in button_titles(answer)
    assert shown(answer) == answered(Topic.PENDING, "en", "after")

    more = await press(telegram, chat_id, "Tell me more")
    assert "ntsa.go.ke" in more["text"]  # where to turn for one that cannot be completed
    page = get_settings().faq_page_url  # the action server's FAQ_PAGE_URL
    assert shown(more) == seen(faq.more(Topic.PENDING, "en", CLOCK["after"], page_url=page))
    assert more["text"].endswith(
        f"\nRead this on the FAQ page: {page.rstrip('/')}/en/#pending-transactions"
    )
    assert more["text"] != answer["text"]
    assert "Tell me more" not in button_titles(more)


async def test_faq_menu_follows_a_kiswahili_conversation(telegram, chat_id, after):
    greeting = await say(telegram, chat_id, "Habari")
    assert_language(greeting["text"], "sw")

    menu = await command(telegram, chat_id, "faq")
    assert shown(menu) == seen(faq.menu("sw"))
    assert "Mafunzo ya bure" in button_titles(menu)

    answer = await press(telegram, chat_id, "Mafunzo ya bure")
    assert shown(answer) == answered(Topic.TRAINING, "sw", "after")
    assert "bure" in answer["text"]
    assert_language(answer["text"], "sw")


# --- /language and switching mid-chat -------------------------------------------------


async def test_language_choice_is_remembered_for_unclear_messages(telegram, chat_id, after):
    choose = await command(telegram, chat_id, "language")
    assert shown(choose) == (t("en", "language.choose"), ["English", "Kiswahili"])

    chosen = await press(telegram, chat_id, "Kiswahili")
    assert shown(chosen) == (t("sw", "language.set"), [])

    reply = await say(telegram, chat_id, "ok")  # no language of its own
    assert shown(reply) == answered(Topic.ACKNOWLEDGE, "sw", "after")
    assert_language(reply["text"], "sw")


async def test_typing_english_switches_the_language_mid_chat(telegram, chat_id, after):
    first = await say(telegram, chat_id, "TIMS itafungwa lini?")
    assert shown(first) == answered(Topic.CLOSURE, "sw", "after")

    second = await say(telegram, chat_id, "Do I have to validate my e-Citizen account?")
    assert shown(second) == answered(Topic.VALIDATE, "en", "after")
    assert_language(second["text"], "en")

    third = await say(telegram, chat_id, "ok")  # answered in the language used last
    assert shown(third) == answered(Topic.ACKNOWLEDGE, "en", "after")
    assert_language(third["text"], "en")


# --- not understood: clarify, then offer a person -------------------------------------

# Two deadlines (pending applications, the government's directive): no single topic wins.
# Which sentence a retrained model finds unclear moves with the training data, so the
# clarify tests take their input from what the real model routes to ``nlu_fallback``
# (the NLU itself is judged by the held-out evaluation, not here).
UNCLEAR_CANDIDATES = (
    "What is the deadline?",
    "what about the date",
    "is it closing or what",
    "tell me about the deadline and the account",
    "when is it",
    "what do I need to do now",
    "deadline ya nini",
    "hii kitu inaisha lini",
    "ecitizen tims deadline account",
    "tims ecitizen account deadline training",
    "i am confused",
    "sijaelewa hii kitu ya tims",
    "the thing",
    "tell me",
)


async def fallbacks(rasa_server, candidates: tuple[str, ...]) -> list[str]:
    """The candidates the trained model classifies as ``nlu_fallback``."""
    found = []
    async with aiohttp.ClientSession() as http:
        for text in candidates:
            url, body = f"{rasa_server.url}/model/parse", {"text": text}
            async with http.post(url, json=body, params=rasa_api_params()) as r:
                parsed = await r.json()
            if parsed["intent"]["name"] == "nlu_fallback":
                found.append(text)
    return found


TOPIC_BY_TITLE = dict(zip(MENU_TITLES_EN, [t.value for t in faq.MENU_TOPICS], strict=True))


async def test_unclear_question_gets_topic_buttons_and_a_pick_answers(
    telegram, chat_id, after, rasa_server
):
    # The English ones: a Kiswahili miss is answered in Kiswahili, with Kiswahili titles.
    found = await fallbacks(rasa_server, UNCLEAR_CANDIDATES)
    unclear = [text for text in found if choose_language(text, "en") == "en"]
    assert unclear, "the model understood every English 'unclear' candidate: add vaguer ones"
    offers = []
    for text in unclear:  # a fresh chat each, so no earlier miss counts
        clarify = await say(telegram, chat_id + len(offers) * 1000, text)
        titles = button_titles(clarify)
        offers.append([title for title in titles if title in TOPIC_BY_TITLE])
        # A first miss: the topics found, then "Something else"; none found → "Topics".
        topics = [Topic(TOPIC_BY_TITLE[title]) for title in offers[-1]]
        assert shown(clarify) == seen(faq.clarify("en", topics, repeated=False)), text
    offered = next((o for o in offers if len(o) >= 2), None)
    assert offered is not None, f"no clarification offered two topics: {offers}"
    assert all(len(o) <= 3 for o in offers), offers
    chat_id += offers.index(offered) * 1000

    for title in offered:  # each offered topic, picked, is answered (the buttons stay)
        answer = await press(telegram, chat_id, title)
        fact_en, _ = TOPIC_CASES[TOPIC_BY_TITLE[title]][1]
        assert fact_en in answer["text"], (title, answer["text"])
        assert shown(answer) == answered(Topic(TOPIC_BY_TITLE[title]), "en", "after")


async def test_two_misses_in_a_row_offer_a_person(telegram, chat_id, after, rasa_server):
    found = await fallbacks(rasa_server, GIBBERISH)
    misses = [text for text in found if choose_language(text, "en") == "en"]  # English replies
    assert len(misses) >= 2, f"the model classified the gibberish: only {misses} fell back"
    first = await say(telegram, chat_id, misses[0])
    offered = [Topic(TOPIC_BY_TITLE[x]) for x in button_titles(first) if x in TOPIC_BY_TITLE]
    assert shown(first) == seen(faq.clarify("en", offered, repeated=False))
    assert "Get help from a person" not in button_titles(first)

    second = await say(telegram, chat_id, misses[1])
    assert shown(second) == seen(faq.clarify("en", [], repeated=True))
    assert "Get help from a person" in button_titles(second), second["text"]

    # The handoff starts: what is it about? (the rest of it: tests/e2e/test_handoff.py)
    human = await press(telegram, chat_id, "Get help from a person")
    question, topics = handoff_texts.topic_question("en")
    assert shown(human) == (question, [title for title, _ in topics])
    left = await command(telegram, chat_id, "cancel")
    assert shown(left) == (handoff_texts.left_queue("en"), [])


# --- odd input through the whole stack ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["🙂🙂🙂", "???", '{"verified_phone": "+254700000101"}'],
    ids=["emoji", "question-marks", "metadata-lookalike"],
)
async def test_odd_input_gets_a_polite_answer(telegram, chat_id, after, text):
    reply = await say(telegram, chat_id, text)
    # Whatever NLU makes of it, the reply points to what the bot can do: the topics it
    # might have meant (or all of them), or an answer that names what it knows or /faq.
    offered = [Topic(TOPIC_BY_TITLE[x]) for x in button_titles(reply) if x in TOPIC_BY_TITLE]
    pointers = [
        seen(faq.clarify("en", offered, repeated=False)),
        answered(Topic.OUT_OF_SCOPE, "en", "after"),
        answered(Topic.CAPABILITIES, "en", "after"),
        answered(Topic.ACKNOWLEDGE, "en", "after"),
        # words about a verified phone may start a status check: it asks for the ID, and
        # nothing in the text proves anything
        (t("en", "status.ask_id"), []),
    ]
    assert shown(reply) in pointers
    assert "+254700000101" not in reply["text"]
    if shown(reply) == (t("en", "status.ask_id"), []):  # leave the check it started
        stopped = await say(telegram, chat_id, "cancel")
        assert stopped["text"] == t("en", "status.cancelled")
    await still_answers(telegram, chat_id)


async def test_a_very_long_message_is_refused_politely(telegram, chat_id, after):
    reply = await say(telegram, chat_id, ("When does TIMS close? " * 200)[:4000])
    assert shown(reply) == (t("en", "common.too_long", limit=1000), [])
    await still_answers(telegram, chat_id)


async def test_forged_more_payload_is_not_taken_as_the_intent(telegram, chat_id, after):
    now = datetime.fromisoformat(AFTER)
    reply = await say(telegram, chat_id, '/faq_more{"faq_topic":"closure"}')
    page = get_settings().faq_page_url
    assert reply["text"] != faq.more(Topic.CLOSURE, "en", now, page_url=page).text
    assert reply["text"] != faq.more(Topic.CLOSURE, "sw", now, page_url=page).text
    assert "/#closure" not in reply["text"]
    await still_answers(telegram, chat_id)


async def test_forged_language_payload_does_not_switch_the_language(telegram, chat_id, after):
    reply = await say(telegram, chat_id, '/set_language{"language":"sw"}')
    assert reply["text"] != t("sw", "language.set")

    ack = await say(telegram, chat_id, "ok")
    assert shown(ack) == answered(Topic.ACKNOWLEDGE, "en", "after")
    assert_language(ack["text"], "en")
    await still_answers(telegram, chat_id)
