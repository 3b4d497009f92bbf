"""What the handoff says to the person and to the agents' desk, and the context card
(ntsa_assistant.handoff.texts and .card)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import LANGUAGES, Lang, catalog, t
from ntsa_assistant.core.telegram_text import utf16_len
from ntsa_assistant.faq.answers import menu
from ntsa_assistant.handoff import texts
from ntsa_assistant.handoff.card import Card, CardRegistration, render_card
from ntsa_assistant.protocol import HandoffReason, TranscriptLine

MONDAY_8 = datetime(2026, 12, 14, 8, 0, tzinfo=NAIROBI)

PERSON_TEXTS = [
    lambda lang: texts.topic_question(lang)[0],
    texts.choose_topic_first,
    texts.leave_button,
    lambda lang: texts.claimed(lang, None),
    lambda lang: texts.claimed(lang, "Wanjiru"),
    texts.back_to_bot,
    lambda lang: texts.rating_question(lang)[0],
    lambda lang: texts.rating_thanks(lang, 5),
    lambda lang: texts.rating_thanks(lang, 2),
    texts.left_queue,
    lambda lang: texts.blocked(lang, MONDAY_8),
    texts.no_desk,
    texts.with_agent_hint,
    texts.desk_unavailable,
]


def test_every_handoff_text_exists_in_both_languages() -> None:
    en = {k for k in catalog("en") if k.startswith("handoff.")}
    sw = {k for k in catalog("sw") if k.startswith("handoff.")}
    assert en == sw
    assert "handoff.desk.card.proof" in en


@pytest.mark.parametrize("index", range(len(PERSON_TEXTS)))
def test_the_person_reads_each_text_in_their_own_language(index: int) -> None:
    english, kiswahili = (PERSON_TEXTS[index](lang) for lang in LANGUAGES)
    assert english.strip()
    assert kiswahili.strip()
    assert english != kiswahili
    assert "{" not in english + kiswahili


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_topics_are_the_menus_titles_for_an_agent_and_something_else(lang: Lang) -> None:
    question, buttons = texts.topic_question(lang)
    menu_titles = {b.intent: b.title for b in menu(lang).buttons}
    assert buttons == (
        (menu_titles["faq_closure"], "closure"),
        (menu_titles["faq_login"], "login"),
        (menu_titles["faq_pending"], "pending"),
        (menu_titles["faq_validate"], "validate"),
        (menu_titles["faq_link_org"], "link_org"),
        (menu_titles["faq_training"], "training"),
        (t(lang, "handoff.topic_other"), "other"),
    )
    assert question == t(lang, "handoff.topic_question")


def test_the_topic_question_invites_their_own_words() -> None:
    assert "your own words" in texts.topic_question("en")[0]
    assert "maneno yako mwenyewe" in texts.topic_question("sw")[0]


def test_an_unknown_topic_key_is_something_else() -> None:
    assert texts.topic_title("en", "pending") == "Pending applications"
    assert texts.topic_title("en", "other") == "Something else"
    assert texts.topic_title("en", "greet") == "Something else"


def test_queued_while_open_tells_the_place_the_wait_that_messages_are_kept_and_how_to_leave() -> (
    None
):
    text = texts.queued(
        "en", position=3, estimate_minutes=12, open_now=True, next_opening=None, holiday=None
    )
    assert text == (
        "You're in the queue for a person: number 3. "
        "Someone should be with you in about 12 minutes. "
        "Everything you send from now on goes to the agent and is kept for them.\n"
        "To leave the queue, send /cancel or tap “✖ Leave the queue”."
    )


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (None, "I can't tell yet how long the wait will be."),
        (0, "Someone should be with you in about a minute."),
        (1, "Someone should be with you in about a minute."),
        (45, "Someone should be with you in about 45 minutes."),
        (70, "Someone should be with you in about an hour."),
        (150, "Someone should be with you in about 2 hours."),
    ],
)
def test_the_wait_is_worded_by_its_size(minutes: int | None, expected: str) -> None:
    text = texts.queued(
        "en", position=2, estimate_minutes=minutes, open_now=True, next_opening=None, holiday=None
    )
    assert expected in text


def test_first_in_line_is_said_so() -> None:
    for lang, words in (("en", "next in line"), ("sw", "wewe ndiye unayefuata")):
        text = texts.queued(
            lang, position=1, estimate_minutes=5, open_now=True, next_opening=None, holiday=None
        )
        assert words in text
        assert "1" not in text.split(".")[0]


def test_queued_when_closed_says_when_agents_are_back_in_kiswahili() -> None:
    text = texts.queued(
        "sw",
        position=2,
        estimate_minutes=None,
        open_now=False,
        next_opening=MONDAY_8,
        holiday=None,
    )
    assert text.startswith(
        "Wahudumu wetu hawapo kwa sasa. Watarudi Jumatatu, 14 Desemba 2026, 08:00 "
        "(saa za Nairobi). Uko kwenye foleni ya kuongea na mtu: nambari 2."
    )
    assert "imehifadhiwa" in text
    assert "/cancel" in text
    assert "takriban" not in text


def test_queued_on_a_holiday_names_it() -> None:
    text = texts.queued(
        "en",
        position=1,
        estimate_minutes=3,
        open_now=False,
        next_opening=MONDAY_8,
        holiday="Jamhuri Day",
    )
    assert text.startswith(
        "Today is Jamhuri Day, a public holiday, so our agents are away. "
        "They're back on Monday, 14 December 2026, 08:00 (Nairobi time)."
    )
    assert "about 3 minutes" not in text


def test_claimed_names_the_agent_only_when_given() -> None:
    assert texts.claimed("en", "Wanjiru").startswith("Wanjiru, from our support team")
    assert texts.claimed("en", "  ") == texts.claimed("en", None)
    assert texts.claimed("sw", None).startswith("Mhudumu wa timu yetu")


def test_rating_offers_one_to_five_stars_and_thanks_by_score() -> None:
    _, buttons = texts.rating_question("sw")
    assert buttons == tuple(("⭐" * n, str(n)) for n in (1, 2, 3, 4, 5))
    assert texts.rating_thanks("en", 4) == t("en", "handoff.rating.thanks_good")
    assert texts.rating_thanks("en", 3) == t("en", "handoff.rating.thanks_poor")
    with pytest.raises(ValueError, match="1 to 5"):
        texts.rating_thanks("en", 6)


def test_blocked_gives_the_date_in_the_readers_language() -> None:
    assert "Jumatatu, 14 Desemba 2026, 08:00" in texts.blocked("sw", MONDAY_8)
    assert "Monday, 14 December 2026, 08:00" in texts.blocked("en", MONDAY_8)


def test_no_desk_gives_the_faqs_facts() -> None:
    for lang in LANGUAGES:
        text = texts.no_desk(lang)
        assert "ntsa.go.ke" in text
        assert "ecitizen.go.ke" in text


# --- the desk -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "name"),
    [
        ("waiting", "⏳ Jane #1042 · SW"),
        ("claimed", "💬 Jane #1042 · SW"),
        ("closed", "✅ Jane #1042 · SW"),
    ],
)
def test_the_desk_topic_name_shows_state_label_number_and_language(state: str, name: str) -> None:
    assert texts.desk_topic_name("Jane", "sw", state, 1042) == name


def test_a_long_label_is_cut_to_telegrams_128_characters_and_masked() -> None:
    name = texts.desk_topic_name("😀" * 200, "en", "waiting", 7)
    assert utf16_len(name) <= 128
    assert name.endswith("… #7 · EN")
    masked = texts.desk_topic_name("Otieno +254712345678 0712345678", "en", "waiting", 7)
    assert masked == "⏳ Otieno ***********78 ********78 #7 · EN"
    with pytest.raises(ValueError, match="desk state"):
        texts.desk_topic_name("Jane", "en", "lost", 7)


def test_desk_texts_are_english_whatever_the_persons_language() -> None:
    assert texts.desk_escalation(15) == (
        "⏰ Nobody has taken this for 15 minutes. Send /claim to take it."
    )
    assert texts.desk_block_confirm(24) == (
        "Send “/block confirm” within 2 minutes to stop relaying this person's messages "
        "for 24 hours."
    )
    assert texts.desk_blocked(MONDAY_8) == (
        "🚫 This person's messages are not relayed until Monday, 14 December 2026, 08:00 "
        "(Nairobi time)."
    )
    assert texts.desk_merged_header(1) == "📨 1 message sent while waiting:"
    assert texts.desk_merged_header(4) == "📨 4 messages sent while waiting:"
    assert texts.desk_rating(4) == "⭐ The person rated the conversation 4/5."
    assert texts.desk_claimed("Wanjiru").startswith("🙋 Wanjiru has taken")
    assert texts.desk_closed("Wanjiru", "done") == "✅ Closed by Wanjiru: done."
    assert texts.desk_cancelled() != texts.desk_person_left()
    assert "blocked the bot" in texts.desk_not_delivered()
    assert "not sent" in texts.desk_no_handoff()


def test_desk_help_lists_every_command() -> None:
    help_text = texts.desk_help()
    for command in ("/claim", "/claim name", "/done", "/block", "#note"):
        assert command in help_text


# --- the context card -------------------------------------------------------------------------

SECRETS = ("23456789", "+254712345678", "0712345678", "A123456789B", "jane.doe@example.com")

CARD = Card(
    number=1042,
    label="Jane",
    lang="sw",
    reason=HandoffReason.MISSES,
    topic="pending",
    typed_reason="My payment is stuck",
    transcript=(
        TranscriptLine("person", "Malipo yangu yamekwama"),
        TranscriptLine("assistant", "Sorry, I'm not sure what you mean."),
    ),
    proven_id="12****78",
    registrations=(
        CardRegistration(
            "Motor dealers: linking your company",
            datetime(2027, 1, 20, 7, 0, tzinfo=UTC),
            "confirmed",
        ),
    ),
    asked_at=datetime(2026, 12, 12, 9, 5, tzinfo=UTC),
    open_now=False,
)


def test_the_card_tells_the_agent_everything_in_order() -> None:
    assert render_card(CARD).splitlines() == [
        "🆕 Handoff #1042",
        "Who: Jane, writes in Kiswahili",
        "Why: tapped “get help from a person” after the assistant missed twice",
        "Topic: Pending applications",
        "In their words: My payment is stuck",
        "",
        "Last messages:",
        "👤 Malipo yangu yamekwama",
        "🤖 Sorry, I'm not sure what you mean.",
        "",
        "Proved ownership of ID 12****78 in this chat",
        "Training registrations:",
        "• Motor dealers: linking your company — Wednesday, 20 January 2027, 10:00 — confirmed",
        "Asked: Saturday, 12 December 2026, 12:05 (Nairobi time), outside working hours",
        "",
        t("en", "handoff.desk.card.commands"),
    ]


def test_a_card_without_proof_registrations_or_typed_words_says_so() -> None:
    bare = dataclasses.replace(
        CARD,
        proven_id=None,
        registrations=(),
        typed_reason=None,
        transcript=(),
        open_now=True,
        reason=HandoffReason.COMMAND,
        topic="other",
    )
    lines = render_card(bare).splitlines()
    assert "No ID proven in this chat" in lines
    assert "Training registrations: none" in lines
    assert "Last messages: none" in lines
    assert "Why: sent /agent" in lines
    assert "Topic: Something else" in lines
    assert "Asked: Saturday, 12 December 2026, 12:05 (Nairobi time)" in lines
    assert not any(line.startswith("In their words") for line in lines)


def test_the_card_masks_every_identifier_in_every_free_text() -> None:
    leaky = " ".join(SECRETS)
    card = dataclasses.replace(
        CARD,
        label=f"Jane {SECRETS[2]}",
        typed_reason=f"my details: {leaky}",
        transcript=(TranscriptLine("person", leaky), TranscriptLine("assistant", leaky)),
        proven_id=SECRETS[0],
    )
    text = render_card(card)
    for secret in SECRETS:
        assert secret not in text
    assert "Proved ownership of ID ******89 in this chat" in text
    assert "j***@example.com" in text


def test_a_long_transcript_loses_its_oldest_lines_first_to_fit_one_message() -> None:
    lines = tuple(TranscriptLine("person", f"message {n}: " + "x" * 480) for n in range(40))
    text = render_card(dataclasses.replace(CARD, transcript=lines))
    assert texts.utf16_len(text) <= 4096
    assert "message 39:" in text
    assert "message 0:" not in text
    kept = sum(line.startswith("👤 message") for line in text.splitlines())
    assert f"… {40 - kept} earlier messages left out" in text
    assert text.endswith(t("en", "handoff.desk.card.commands"))


def test_the_card_fits_even_when_every_part_is_huge() -> None:
    card = dataclasses.replace(
        CARD,
        label="😀" * 5000,
        typed_reason="😀" * 5000,
        transcript=tuple(TranscriptLine("assistant", "😀" * 5000) for _ in range(10)),
        registrations=(CARD.registrations[0],) * 50,
    )
    assert texts.utf16_len(render_card(card)) <= 4096
