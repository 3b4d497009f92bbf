"""Deadline announcements: which is due when (Nairobi time), what each says in English and
Kiswahili at the moment it is sent, what a subscriber is told, and which language a request
to subscribe is in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ntsa_assistant.announcements import texts
from ntsa_assistant.announcements.schedule import (
    TimelineTopic,
    due,
    find,
    scheduled,
    upcoming,
)
from ntsa_assistant.announcements.subscriptions import (
    SubscriptionIntent,
    request_language,
    says_swahili,
    telegram_chat,
)
from ntsa_assistant.announcements.texts import SubscribeOutcome
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq.timeline import default_timeline
from tests.support.rasa_domain import load_domain

TL = default_timeline()
PENDING, CLOSURE, NEW_ONLY = (
    TimelineTopic.PENDING_DEADLINE,
    TimelineTopic.CLOSURE,
    TimelineTopic.NEW_SYSTEM_ONLY,
)


def eat(*args: int) -> datetime:
    return datetime(*args, tzinfo=NAIROBI)


def test_three_announcements_from_the_timeline_with_their_keys() -> None:
    assert [(item.topic, item.key) for item in scheduled(TL)] == [
        (PENDING, "timeline:pending_deadline:2023-12-15"),
        (CLOSURE, "timeline:closure:2023-12-29"),
        (NEW_ONLY, "timeline:new_system_only:2024-01-02"),
    ]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (eat(2023, 12, 1, 9), []),
        (eat(2023, 12, 12, 8, 59, 59), []),  # three days before the deadline, before 09:00
        (eat(2023, 12, 12, 9, 0), [PENDING]),
        (datetime(2023, 12, 12, 6, 0, tzinfo=UTC), [PENDING]),  # 09:00 in Nairobi
        (eat(2023, 12, 15, 23, 59, 59), [PENDING]),  # the deadline's last second
        (eat(2023, 12, 16, 0, 0), []),
        (eat(2023, 12, 27, 8, 59), []),
        (eat(2023, 12, 27, 9, 0), [CLOSURE]),  # two days before the last open day
        (eat(2023, 12, 29, 23, 59, 59), [CLOSURE]),
        (eat(2023, 12, 30, 0, 0), []),  # closed: too late to warn
        (eat(2024, 1, 1, 12, 0), []),
        (eat(2024, 1, 2, 7, 59), []),
        (eat(2024, 1, 2, 8, 0), [NEW_ONLY]),  # the first e-Citizen-only morning
        (eat(2024, 1, 8, 23, 59), [NEW_ONLY]),
        (eat(2024, 1, 9, 0, 0), []),  # a week on, nothing
        (eat(2026, 12, 5, 12, 0), []),
    ],
)
def test_which_announcement_is_due_when(now: datetime, expected: list[TimelineTopic]) -> None:
    assert [item.topic for item in due(TL, now)] == expected


def test_upcoming_lists_what_a_new_subscriber_may_still_get() -> None:
    assert [i.topic for i in upcoming(TL, eat(2023, 12, 10))] == [PENDING, CLOSURE, NEW_ONLY]
    assert [i.topic for i in upcoming(TL, eat(2023, 12, 14))] == [PENDING, CLOSURE, NEW_ONLY]
    assert [i.topic for i in upcoming(TL, eat(2023, 12, 20))] == [CLOSURE, NEW_ONLY]
    assert [i.topic for i in upcoming(TL, eat(2024, 1, 3))] == [NEW_ONLY]
    assert upcoming(TL, eat(2024, 2, 1)) == []


def test_the_pending_deadline_counts_the_days_left_when_it_is_sent() -> None:
    footer_en = "You get this because you asked for deadline reminders; /unsubscribe stops them."
    assert texts.announcement(PENDING, "en", TL, eat(2023, 12, 12, 9)) == (
        "Reminder: any application you started on TIMS must be completed by the end of "
        "Friday, 15 December 2023 (3 days left). Finish what is still outstanding, such as a "
        "payment or an upload, before then. Questions? Ask me here.\n\n" + footer_en
    )
    assert "(1 day left)" in texts.announcement(PENDING, "en", TL, eat(2023, 12, 14, 10))
    assert "(today is the last day)" in texts.announcement(PENDING, "en", TL, eat(2023, 12, 15))


def test_the_pending_deadline_in_kiswahili() -> None:
    assert texts.announcement(PENDING, "sw", TL, eat(2023, 12, 13, 10)) == (
        "Kikumbusho: ombi lolote ulilolianza kwenye TIMS lazima likamilishwe kufikia mwisho wa "
        "Ijumaa, 15 Desemba 2023 (zimebaki siku 2). Maliza kilichobaki, kama malipo au "
        "kupakia hati, kabla ya hapo. Una swali? Niulize hapa.\n\nUnapokea ujumbe huu kwa "
        "sababu uliomba vikumbusho vya tarehe; tuma /usiniarifu kuvisitisha."
    )


def test_the_closure_warning_says_when_and_until_when() -> None:
    text = texts.announcement(CLOSURE, "en", TL, eat(2023, 12, 27, 9))
    assert text.startswith(
        "Heads-up: TIMS goes offline at midnight at the end of Friday, 29 December 2023 "
        "(in 2 days) and stays off until the end of Monday, 1 January 2024."
    )
    assert "(that is tonight)" in texts.announcement(CLOSURE, "en", TL, eat(2023, 12, 29, 9))
    assert "(yaani kesho usiku)" in texts.announcement(CLOSURE, "sw", TL, eat(2023, 12, 28, 9))


def test_the_new_system_announcement_says_today_on_the_day_and_since_later() -> None:
    today = texts.announcement(NEW_ONLY, "en", TL, eat(2024, 1, 2, 8))
    assert today.startswith(
        "From today, Tuesday, 2 January 2024, NTSA services open only with your e-Citizen "
        "username and password, at ecitizen.go.ke."
    )
    later = texts.announcement(NEW_ONLY, "sw", TL, eat(2024, 1, 4, 10))
    assert later.startswith("Tangu Jumanne, 2 Januari 2024, huduma za NTSA zinafunguka tu")


def test_a_new_subscriber_hears_what_is_still_to_come() -> None:
    before = texts.subscribed("en", SubscribeOutcome.SUBSCRIBED, TL, eat(2023, 12, 20))
    assert before == (
        "Done. I will write to you here when a date of the move to e-Citizen comes close:\n"
        "• before TIMS goes offline at the end of Friday, 29 December 2023\n"
        "• on Tuesday, 2 January 2024, when e-Citizen becomes the only way in\n"
        "Send /unsubscribe whenever you want these to stop."
    )
    late = texts.subscribed("sw", SubscribeOutcome.SUBSCRIBED, TL, eat(2024, 3, 1))
    assert late.startswith("Sawa, uko kwenye orodha. Tarehe za kuhamia e-Citizen zimeshapita")


def test_subscribing_again_and_unsubscribing_are_answered_in_the_persons_language() -> None:
    now = eat(2023, 12, 10)
    assert texts.subscribed("sw", SubscribeOutcome.ALREADY, TL, now) == (
        "Tayari uko kwenye orodha: nitakuandikia hapa tarehe muhimu ikikaribia. "
        "Tuma /usiniarifu kusitisha."
    )
    assert texts.subscribed("en", SubscribeOutcome.LANGUAGE_CHANGED, TL, now) == (
        "You are on the list, and from now on I will write to you in English."
    )
    assert texts.unsubscribed("en", True, TL) == (
        "Done: no more deadline reminders from me. Send /subscribe if you want them back."
    )
    assert texts.unsubscribed("sw", False, TL) == (
        "Hukuwa kwenye orodha, kwa hiyo hakuna cha kusitisha. Tuma /niarifu ukitaka "
        "vikumbusho vya tarehe za mwisho."
    )


@pytest.mark.parametrize(
    ("text", "asked", "otherwise", "expected"),
    [
        ("/subscribe_announcements", "sw", "en", ("sw", True)),  # /niarifu
        ("/subscribe_announcements", None, "sw", ("sw", False)),  # /subscribe: the chat's
        ("niarifu", None, "en", ("sw", True)),  # one Kiswahili word the detector cannot place
        ("usiniarifu tena", None, "en", ("sw", True)),
        ("nikumbushe kabla ya tarehe ya mwisho", None, "en", ("sw", True)),
        ("please remind me before the deadline", None, "sw", ("en", True)),
        ("subscribe", None, "sw", ("sw", False)),  # says nothing of its language
    ],
)
def test_the_language_of_a_request(
    text: str, asked: str | None, otherwise: str, expected: tuple[str, bool]
) -> None:
    assert request_language(text, asked, otherwise) == expected  # type: ignore[arg-type]


def test_kiswahili_request_words() -> None:
    assert says_swahili("Niarifu!")
    assert not says_swahili("notify me about deadlines")


@pytest.mark.parametrize(
    ("sender", "chat"),
    [
        ("700000123", 700000123),
        ("local-1a2b3c4d", None),  # the terminal chat
        ("-100123", None),  # a group
        ("0", None),
        (str(2**52), None),
    ],
)
def test_only_private_telegram_chats_can_subscribe(sender: str, chat: int | None) -> None:
    assert telegram_chat(sender) == chat


def test_the_intents_are_declared_in_the_rasa_domain() -> None:
    assert {intent.value for intent in SubscriptionIntent} <= load_domain().intents


def test_find_names_each_topic() -> None:
    assert all(find(TL, topic.value) is not None for topic in TimelineTopic)
    assert find(TL, "nothing") is None
