"""The load benchmark's figures (tools/bench_stats.py): percentiles, which message answered
which turn, lost / duplicated / incomplete answers, latency over time."""

from __future__ import annotations

import pytest

from tools.bench_stats import (
    AnswerSizes,
    BotEvent,
    Turn,
    attribute,
    duplicated,
    incomplete,
    latency_by_kind,
    lost,
    percentile,
    recovery_seconds,
    summary,
    timeline,
    unverified,
    verdict,
    window,
)


def turn(chat: int, at: float, expected: int | None = 1, kind: str = "faq") -> Turn:
    return Turn("telegram", kind, "question", chat, at, expected=expected)


def message(chat: int, at: float) -> BotEvent:
    return BotEvent(at, chat, "message")


def test_percentiles_are_values_that_were_measured() -> None:
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_summary_is_in_milliseconds() -> None:
    assert summary([0.1, 0.2, 0.3, 0.4]) == {
        "count": 4,
        "p50": 200.0,
        "p95": 400.0,
        "p99": 400.0,
        "max": 400.0,
        "mean": 250.0,
    }
    assert summary([])["p95"] is None


def test_each_message_answers_its_chats_latest_turn_before_it() -> None:
    first, second, other = turn(1, 10.0, expected=2), turn(1, 20.0), turn(2, 10.5)
    events = [
        message(1, 10.3),
        message(1, 10.4),
        BotEvent(19.0, 1, "typing"),  # typing answers nothing
        message(2, 11.0),
        message(1, 20.2),
    ]
    assert attribute([first, second, other], events) == 0
    assert (first.messages, first.first_at, first.last_at) == (2, 10.3, 10.4)
    assert (second.messages, second.first_at, second.last_at) == (1, 20.2, 20.2)
    assert (other.messages, other.whole_latency) == (1, pytest.approx(0.5))
    assert lost([first, second, other]) == 0
    assert duplicated([first, second, other]) == 0


def test_a_turn_without_a_message_is_lost_and_one_answered_again_is_duplicated() -> None:
    unanswered = turn(1, 10.0)
    answered_twice = turn(2, 10.0)
    events = [message(2, 10.2), message(2, 14.0)]  # the same update handled twice
    attribute([unanswered, answered_twice], events)
    assert lost([unanswered, answered_twice]) == 1
    assert duplicated([unanswered, answered_twice]) == 1


def test_part_of_an_answer_missing_is_incomplete_and_unknown_sizes_are_not_judged() -> None:
    half = turn(1, 10.0, expected=2)
    unknown = turn(2, 10.0, expected=None)
    attribute([half, unknown], [message(1, 10.1), message(2, 10.1), message(2, 10.2)])
    assert incomplete([half, unknown]) == 1
    assert duplicated([half, unknown]) == 0
    assert unverified([half, unknown]) == 1


def test_messages_before_any_turn_of_their_chat_answer_nothing() -> None:
    later = turn(1, 10.0)
    assert attribute([later], [message(1, 5.0), message(3, 11.0), message(1, 10.5)]) == 1
    assert later.messages == 1


def test_latency_per_kind_and_window_around_a_fault() -> None:
    turns = [turn(1, 0.0), turn(2, 1.0, kind="status"), turn(3, 2.0)]
    attribute(turns, [message(1, 0.1), message(2, 1.3)])
    table = latency_by_kind(turns)
    assert table["faq"]["whole"]["count"] == 1
    assert table["status"]["first"]["p50"] == pytest.approx(300.0)
    assert table["all"]["whole"]["count"] == 2
    during = window(turns, 1.0, 3.0)
    assert during["turns"] == 2
    assert during["lost"] == 1
    assert during["whole"]["count"] == 1


def test_timeline_rows_per_second_and_the_recovery_after_a_fault() -> None:
    turns = [turn(n, float(n)) for n in range(12)]
    slow = {3, 4}
    events = [message(n, n + (3.0 if n in slow else 0.2)) for n in range(12)]
    attribute(turns, events)
    rows = timeline(turns, 0.0, 12)
    assert [row["sent"] for row in rows[:12]] == [1] * 12
    assert rows[3]["p95"] == 3000.0
    assert rows[0]["p50"] == 200.0
    assert [row["done"] for row in rows[:8]] == [1, 1, 1, 0, 0, 1, 2, 2]  # 3 and 4 came late
    assert recovery_seconds(rows, 3, p95_ms=1000.0) == 2  # seconds 5..9 are fast again
    assert recovery_seconds(rows, 3, p95_ms=10.0) is None


def test_answer_sizes_are_the_usual_size_per_step_and_reply() -> None:
    sizes = AnswerSizes()
    for n in (2, 2, 3):
        sizes.learn("status", "id", "status.ask_proof", n)
    sizes.learn("status", "id", "common.apology_error", 1)
    assert sizes.size("status", "id", "status.ask_proof") == 2
    assert sizes.size("status", "ask", "status.ask_id") is None
    assert sizes.for_step("status", "id") == {"status.ask_proof": 2, "common.apology_error": 1}


def phase(answered: float, p50_first: float, p50_whole: float, **extra: object) -> dict:
    latency = {
        "first": {"p50": p50_first},
        "whole": {"p50": p50_whole, "p95": 900.0, "p99": 2500.0},
    }
    found = {"offered_rate": 30.0, "answered_rate": answered, "latency": {"all": latency}}
    return found | {"lost": 0, "duplicated": 1, "incomplete": 0} | extra


def test_the_targets_are_judged_on_the_whole_path() -> None:
    found = verdict({"direct": phase(30.0, 100.0, 100.0), "telegram": phase(29.5, 104.0, 130.0)})
    assert {name: row["met"] for name, row in found.items()} == {
        "p95_ms": True,
        "p99_ms": False,  # 2.5 s
        "lost": True,
        "duplicated": False,
        "incomplete": True,
        "answered_per_s": True,  # 29.5 of 30 is within 2 %
        "gateway_overhead_p50_ms": True,  # the first message 4 ms after Rasa's answer
    }
    assert found["gateway_overhead_p50_ms"]["value"] == 4.0


def test_the_gateway_overhead_is_not_judged_while_queues_grow() -> None:
    saturated = {"direct": phase(9.0, 6e4, 6e4), "telegram": phase(13.0, 3.8e4, 3.8e4)}
    found = verdict(saturated)
    assert found["gateway_overhead_p50_ms"]["met"] is None
    assert found["answered_per_s"]["met"] is False
    assert verdict({"direct": phase(30.0, 1.0, 1.0)}) == {}  # no whole path, nothing to judge
