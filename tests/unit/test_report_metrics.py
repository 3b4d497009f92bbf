"""Every figure of the operators' report, on a small hand-made activity record.

The record (Nairobi times, working hours Mon-Fri 08:00-17:00, December 2026):

* A (en): Tue 1st 09:00-09:02, three typed turns (closure, a miss, login); back on the 5th
  (after the period) — so its conversation "came back within 7 days".
* B (sw): Tue 1st 10:00 a two-question turn (pending+training) and a button at 10:05; then
  silent 45 minutes: a second conversation at 10:50 (closure). The first came back.
* C (sw): Wed 2nd 16:50 two misses, a handoff after misses at 16:52 (its last words kept),
  queued as "other" at 16:53, claimed Thu 3rd 08:10 (17 working minutes), done 08:30,
  rated 4.
* D (en): Thu 3rd 11:00 a turn, proven by contact, seated in S1, asked for a person at
  11:03 (login), left the queue 11:05 before any reply.
* E (en): Thu 3rd 23:00 one turn — too recent to tell at the data's end (Wed 9th 18:00).
* F (en): Wed 2nd 12:00 a turn, a wrong code, then locked.
* G: promoted from a waitlist on the 3rd (someone else's cancelling; not a contact).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.reporting import metrics
from ntsa_assistant.reporting.metrics import Event, Period
from ntsa_assistant.reporting.report import compile_report
from ntsa_assistant.storage.models import EventKind

HOURS = WorkingHours.parse("Mon-Fri 08:00-17:00")
PERIOD = Period(date(2026, 12, 1), date(2026, 12, 3))
DATA_END = datetime(2026, 12, 9, 18, 0, tzinfo=NAIROBI)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=NAIROBI)


def turn(
    chat: str,
    when: datetime,
    intent: str,
    lang: str,
    *,
    typed: bool = True,
    ms: int = 50,
    text: str | None = None,
) -> Event:
    fell_back = intent == "nlu_fallback"
    return Event(
        when,
        EventKind.TURN,
        chat=chat,
        language=lang,
        intent=intent,
        confidence=0.3 if fell_back else 0.95,
        typed=typed,
        fell_back=fell_back,
        action="action_clarify" if fell_back else "action_answer_faq",
        latency_ms=ms,
        text=text,
    )


def step(kind: EventKind, chat: str | None, when: datetime, **fields: object) -> Event:
    return Event(when, kind, chat=chat, **fields)  # type: ignore[arg-type]


H = EventKind
RECORD: list[Event] = [
    turn("A", at(1, 9, 0), "faq_closure", "en", ms=40),
    turn("A", at(1, 9, 1), "nlu_fallback", "en", ms=60, text="how do I renew my DL"),
    turn("A", at(1, 9, 2), "faq_login", "en", ms=30),
    turn("A", at(5, 10, 0), "greet", "en", ms=20),  # after the period
    turn("B", at(1, 10, 0), "faq_pending+faq_training", "sw", ms=70),
    turn("B", at(1, 10, 5), "faq_more", "sw", typed=False, ms=10),
    turn("B", at(1, 10, 50), "faq_closure", "sw", ms=45),
    turn("C", at(2, 16, 50), "nlu_fallback", "sw", ms=80, text="nataka kurenew DL"),
    turn("C", at(2, 16, 51), "nlu_fallback", "sw", ms=90, text="leseni yangu"),
    step(H.HANDOFF_OPENED, "C", at(2, 16, 52), language="sw", handoff_id=7, reason="misses"),
    step(H.HANDOFF_QUEUED, "C", at(2, 16, 53), language="sw", handoff_id=7, topic="other"),
    step(H.HANDOFF_CLAIMED, "C", at(3, 8, 10), language="sw", handoff_id=7, seconds=54_420),
    step(H.HANDOFF_CLOSED, "C", at(3, 8, 30), language="sw", handoff_id=7, outcome="done"),
    step(H.HANDOFF_RATED, "C", at(3, 8, 31), language="sw", handoff_id=7, rating=4),
    turn("D", at(3, 11, 0), "faq_validate", "en", ms=35),
    step(H.STATUS, "D", at(3, 11, 1), outcome="proven_contact"),
    step(H.REGISTRATION, "D", at(3, 11, 2), language="en", session_code="S1", outcome="seated"),
    step(H.HANDOFF_OPENED, "D", at(3, 11, 3), language="en", handoff_id=8, reason="asked"),
    step(H.HANDOFF_QUEUED, "D", at(3, 11, 4), language="en", handoff_id=8, topic="login"),
    step(H.HANDOFF_CLOSED, "D", at(3, 11, 5), language="en", handoff_id=8, outcome="cancelled"),
    turn("E", at(3, 23, 0), "faq_closure", "en", ms=55),
    turn("F", at(2, 12, 0), "status_check", "en", ms=65),
    step(H.STATUS, "F", at(2, 12, 1), outcome="failed", reason="wrong_code"),
    step(H.STATUS, "F", at(2, 12, 2), outcome="locked"),
    step(H.REGISTRATION, "G", at(3, 9, 0), language="sw", session_code="S1", outcome="promoted"),
]


@pytest.fixture(scope="module")
def found() -> list[metrics.Conversation]:
    return metrics.conversations(RECORD)


def test_conversations_split_at_30_minutes_of_silence(found: list[metrics.Conversation]) -> None:
    assert [(c.chat, c.start, c.end, c.language) for c in found] == [
        ("A", at(1, 9, 0), at(1, 9, 2), "en"),
        ("B", at(1, 10, 0), at(1, 10, 5), "sw"),
        ("B", at(1, 10, 50), at(1, 10, 50), "sw"),
        ("F", at(2, 12, 0), at(2, 12, 2), "en"),
        ("C", at(2, 16, 50), at(2, 16, 53), "sw"),
        ("D", at(3, 11, 0), at(3, 11, 4), "en"),
        ("E", at(3, 23, 0), at(3, 23, 0), "en"),
        ("A", at(5, 10, 0), at(5, 10, 0), "en"),
    ]
    assert [c.handoffs for c in found if c.handed_off] == [(7,), (8,)]


def test_a_silence_just_under_the_gap_keeps_one_conversation() -> None:
    under = [turn("X", at(1, 9, 0), "greet", "en"), turn("X", at(1, 9, 29, 59), "faq_login", "en")]
    assert len(metrics.conversations(under)) == 1
    exactly = [turn("X", at(1, 9, 0), "greet", "en"), turn("X", at(1, 9, 30), "faq_login", "en")]
    assert len(metrics.conversations(exactly)) == 2


def test_a_conversation_speaks_the_language_most_of_it_does() -> None:
    record = [
        turn("X", at(1, 9, 0), "greet", "en"),
        turn("X", at(1, 9, 1), "faq_login", "sw"),
        turn("X", at(1, 9, 2), "faq_login", "sw"),
    ]
    assert metrics.conversations(record)[0].language == "sw"
    assert metrics.conversations(record[:2])[0].language == "en"  # a tie: the first
    unknown = [step(H.STATUS, "Y", at(1, 9), outcome="locked")]
    assert metrics.conversations(unknown)[0].language == "?"


def test_per_day_counts_conversations_and_people_by_language(
    found: list[metrics.Conversation],
) -> None:
    days = metrics.per_day(found, PERIOD)
    assert [(d.day.day, dict(d.conversations), dict(d.people), d.people_total) for d in days] == [
        (1, {"en": 1, "sw": 2}, {"en": 1, "sw": 1}, 2),
        (2, {"sw": 1, "en": 1}, {"sw": 1, "en": 1}, 2),
        (3, {"en": 2}, {"en": 2}, 2),
    ]


def test_totals_count_each_person_once(found: list[metrics.Conversation]) -> None:
    totals = metrics.totals(found, PERIOD)
    assert totals.conversations == Counter({"en": 4, "sw": 3})
    assert totals.conversations_total == 7
    assert totals.people == Counter({"en": 4, "sw": 2})
    assert totals.people_total == 6


def test_containment(found: list[metrics.Conversation]) -> None:
    result = metrics.containment(found, PERIOD, DATA_END)
    assert result == metrics.Containment(
        conversations=7, handed_off=2, returned=2, contained=2, pending=1
    )
    assert result.judged == 6
    assert result.rate == pytest.approx(2 / 6)


def test_containment_a_return_after_the_window_still_counts_as_settled() -> None:
    record = [
        turn("X", at(1, 9, 0), "faq_login", "en"),
        turn("X", at(1, 9, 0) + timedelta(days=7, seconds=1), "faq_login", "en"),
    ]
    found = metrics.conversations(record)
    result = metrics.containment(found, PERIOD, at(20, 0))
    assert (result.contained, result.returned, result.pending) == (1, 0, 0)


def test_fallback_rate_counts_typed_messages_only() -> None:
    result = metrics.fallbacks(RECORD, PERIOD)
    assert result.typed == Counter({"en": 6, "sw": 4})
    assert result.fell_back == Counter({"en": 1, "sw": 2})
    assert result.rate() == pytest.approx(3 / 10)
    assert result.rate("en") == pytest.approx(1 / 6)
    assert result.rate("sw") == pytest.approx(2 / 4)
    per_day = metrics.fallback_per_day(RECORD, PERIOD)
    assert per_day[date(2026, 12, 2)].rate("sw") == 1.0
    assert per_day[date(2026, 12, 3)].rate("sw") is None


def test_handoff_rate_by_reason_and_topic(found: list[metrics.Conversation]) -> None:
    result = metrics.handoffs(RECORD, PERIOD, metrics.totals(found, PERIOD).conversations_total)
    assert result.by_reason == Counter({"misses": 1, "asked": 1})
    assert result.by_topic == Counter({"other": 1, "login": 1})
    assert result.rate() == pytest.approx(2 / 7)
    assert result.rate("misses") == pytest.approx(1 / 7)


def test_first_agent_reply_in_working_hours_and_ratings() -> None:
    result = metrics.agent_replies(RECORD, PERIOD, HOURS)
    # 16:53-17:00 on Wednesday and 08:00-08:10 on Thursday
    assert result.waits == (17 * 60,)
    assert result.wall_waits == (15 * 3600 + 17 * 60,)
    assert result.median_seconds == 17 * 60
    assert (result.claimed, result.left_unclaimed, result.still_waiting) == (1, 1, 0)
    assert result.closed_done == 1
    assert result.ratings == Counter({4: 1})
    assert result.average_rating == 4.0


def test_working_seconds_skip_nights_weekends_and_public_holidays() -> None:
    # Thursday 24th 16:00 to Monday 28th 09:00: Christmas (Fri) and the weekend closed.
    assert metrics.working_seconds(HOURS, at(24, 16), at(28, 9)) == 2 * 3600
    assert metrics.working_seconds(HOURS, at(5, 10), at(6, 10)) == 0  # Saturday, Sunday
    assert metrics.working_seconds(HOURS, at(1, 7), at(1, 8, 30)) == 30 * 60
    assert metrics.working_seconds(HOURS, at(1, 9), at(1, 8)) == 0


def test_top_topics_count_each_part_of_a_two_question_message() -> None:
    assert metrics.top_topics(RECORD, PERIOD) == [
        ("faq_closure", Counter({"en": 2, "sw": 1})),
        ("faq_login", Counter({"en": 1})),
        ("faq_pending", Counter({"sw": 1})),
        ("faq_training", Counter({"sw": 1})),
        ("faq_validate", Counter({"en": 1})),
    ]


def test_turn_latency_percentiles() -> None:
    result = metrics.latency(RECORD, PERIOD)
    # in the period: 40 60 30 70 10 45 80 90 35 55 65
    assert result.turns == 11
    assert result.p50_ms == 55
    assert result.p95_ms == 90


def test_status_look_ups_by_outcome_and_registrations() -> None:
    outcomes, failed = metrics.status_outcomes(RECORD, PERIOD)
    assert outcomes == Counter({"proven_contact": 1, "failed": 1, "locked": 1})
    assert failed == Counter({"wrong_code": 1})
    assert metrics.registration_outcomes(RECORD, PERIOD) == Counter({"seated": 1, "promoted": 1})


def test_a_promotion_is_not_the_promoted_persons_contact(
    found: list[metrics.Conversation],
) -> None:
    assert "G" not in {c.chat for c in found}


def test_page_votes_per_topic_and_language() -> None:
    votes = [
        ("closure", "en", True),
        ("closure", "sw", True),
        ("closure", "en", False),
        ("training", "sw", False),
    ]
    result = metrics.page_votes(votes, ["closure", "logging-in", "training"])
    assert [(v.anchor, v.total, v.rate) for v in result] == [
        ("closure", 3, pytest.approx(2 / 3)),
        ("logging-in", 0, None),
        ("training", 1, 0.0),
    ]
    assert result[0].helped == Counter({"en": 1, "sw": 1})


def test_seats_filled() -> None:
    seats = metrics.Seats("S1", "Dealers", "en", at(10, 9), 40, 30, 2, 1)
    assert seats.filled == 0.75


def test_percentile_nearest_rank() -> None:
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([5.0], 95) == 5.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 90) == 4.0


def test_the_compiled_report_holds_every_figure() -> None:
    report = compile_report(
        RECORD, PERIOD, data_end=DATA_END, hours=HOURS, votes=[("closure", "en", True)]
    )
    assert report.totals.conversations_total == 7
    assert report.containment.contained == 2
    assert report.handoffs.total == 2
    assert report.handoff_days == {
        date(2026, 12, 1): Counter(),
        date(2026, 12, 2): Counter({"sw": 1}),
        date(2026, 12, 3): Counter({"en": 1}),
    }
    assert report.status["locked"] == 1
    assert [v.anchor for v in report.votes][:2] == ["closure", "logging-in"]
    assert report.votes[0].total == 1
