"""The figures of a load run, from plain records: percentiles, which turns were answered
(none lost, none twice), latency over time and around a fault.

Pure functions over :class:`Turn` and :class:`BotEvent` records, so unit tests reach every
rule here without a process.

Which messages answer which turn, on the Telegram side: the gateway handles one chat's
turns one at a time and in order, and a person sends their next turn only once the whole
answer to the previous one is there. So in one chat every message the bot sends answers
the latest turn pushed before it. How many messages make a whole answer is learnt where
answers come whole — Rasa's REST channel, in the warm-up and the direct phase — for each
step and the reply it expects (:class:`AnswerSizes`). Then a turn is

- *answered* when at least one message answers it, *lost* when none does;
- *duplicated* when more messages answer it than its whole answer has (the gateway
  answered the update twice, e.g. fetched it again after a restart; or sent a reply again);
- *incomplete* when fewer do (part of its answer never came).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

KINDS = ("faq", "status", "registration")
# The targets for the whole path on two cores.
TARGETS = {"p95_ms": 1000.0, "p99_ms": 2000.0, "gateway_overhead_p50_ms": 5.0}


@dataclass
class Turn:
    """One user turn (a message, a button press or a shared contact) and its answer."""

    phase: str
    kind: str  # one of KINDS
    step: str  # which turn of its conversation, e.g. "question", "id", "confirm"
    chat_id: int
    sent_at: float  # monotonic seconds: pushed to Telegram, or POSTed to Rasa
    update_id: int | None = None
    first_at: float | None = None  # the answer's first message arrived
    last_at: float | None = None  # the answer's last message arrived
    answers: int = 0  # 1 once any message answered it
    messages: int = 0  # messages that answered it
    expected: int | None = None  # messages in its whole answer, when known
    texts: list[str] = field(default_factory=list)  # what answered it (Telegram side)
    reply: str = "pending"  # ok, apology, unexpected, error (set as the conversation reads it)

    @property
    def first_latency(self) -> float | None:
        return None if self.first_at is None else self.first_at - self.sent_at

    @property
    def whole_latency(self) -> float | None:
        return None if self.last_at is None else self.last_at - self.sent_at


@dataclass(frozen=True)
class BotEvent:
    """Something the bot did in a chat, as the emulated Telegram saw it."""

    at: float
    chat_id: int
    what: Literal["typing", "message"]
    text: str = ""  # a message's text (or caption), for the report's examples


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (``q`` in 0..1): a value that was really measured."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50/p95/p99, max and mean of latencies, in milliseconds."""
    if not seconds:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50) * 1000, 1),
        "p95": round(percentile(ordered, 0.95) * 1000, 1),
        "p99": round(percentile(ordered, 0.99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
        "mean": round(sum(ordered) / len(ordered) * 1000, 1),
    }


def attribute(turns: Iterable[Turn], events: Iterable[BotEvent]) -> int:
    """Fills each turn's answer (``messages``, ``answers``, first and last times) from the
    bot's messages, each to its chat's latest turn before it (see the module's docstring).

    Returns how many messages came before any turn of their chat (nothing to answer:
    counted apart, never as an answer). Typing actions answer nothing.
    """
    by_chat: dict[int, list[Turn]] = defaultdict(list)
    for turn in turns:
        by_chat[turn.chat_id].append(turn)
    for chat_turns in by_chat.values():
        chat_turns.sort(key=lambda t: t.sent_at)
    sent = {chat: [t.sent_at for t in chat_turns] for chat, chat_turns in by_chat.items()}
    unprompted = 0
    for event in sorted(events, key=lambda e: e.at):
        if event.what != "message" or event.chat_id not in by_chat:
            continue
        index = bisect.bisect_right(sent[event.chat_id], event.at) - 1
        if index < 0:
            unprompted += 1
            continue
        turn = by_chat[event.chat_id][index]
        turn.messages += 1
        turn.answers = 1
        turn.texts.append(event.text)
        if turn.first_at is None:
            turn.first_at = event.at
        turn.last_at = event.at
    return unprompted


def lost(turns: Iterable[Turn]) -> int:
    """Turns no message answered."""
    return sum(1 for t in turns if t.messages == 0)


def duplicated(turns: Iterable[Turn]) -> int:
    """Turns answered with more messages than their whole answer has."""
    return sum(1 for t in turns if t.expected is not None and t.messages > t.expected)


def incomplete(turns: Iterable[Turn]) -> int:
    """Turns answered with only part of their whole answer."""
    return sum(1 for t in turns if t.expected is not None and 0 < t.messages < t.expected)


def unverified(turns: Iterable[Turn]) -> int:
    """Answered turns whose whole answer's size is not known (not checked for duplicates)."""
    return sum(1 for t in turns if t.expected is None and t.messages > 0)


@dataclass
class AnswerSizes:
    """How many messages make a whole answer, per (kind, step, expected reply), as seen."""

    seen: dict[tuple[str, str, str], Counter[int]] = field(default_factory=dict)

    def learn(self, kind: str, step: str, key: str, messages: int) -> None:
        self.seen.setdefault((kind, step, key), Counter())[messages] += 1

    def size(self, kind: str, step: str, key: str) -> int | None:
        """The usual size (the most often seen), or None if never seen."""
        counts = self.seen.get((kind, step, key))
        return counts.most_common(1)[0][0] if counts else None

    def for_step(self, kind: str, step: str) -> dict[str, int]:
        """Every expected reply of this step whose size is known, with that size."""
        return {
            key: counts.most_common(1)[0][0]
            for (k, s, key), counts in self.seen.items()
            if (k, s) == (kind, step)
        }


def latency_by_kind(turns: Sequence[Turn]) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """Per kind of turn (and all together): first-message and whole-answer latencies."""
    table: dict[str, dict[str, dict[str, float | int | None]]] = {}
    for kind in (*KINDS, "all"):
        chosen = [t for t in turns if kind in ("all", t.kind)]
        table[kind] = {
            "first": summary([t.first_latency for t in chosen if t.first_latency is not None]),
            "whole": summary([t.whole_latency for t in chosen if t.whole_latency is not None]),
        }
    return table


def window(turns: Sequence[Turn], start: float, end: float) -> dict[str, object]:
    """What happened to the turns sent within ``[start, end)``: answers and latencies."""
    chosen = [t for t in turns if start <= t.sent_at < end]
    return {
        "turns": len(chosen),
        "lost": lost(chosen),
        "duplicated": duplicated(chosen),
        "incomplete": incomplete(chosen),
        "replies": dict(Counter(t.reply for t in chosen)),
        "whole": summary([t.whole_latency for t in chosen if t.whole_latency is not None]),
    }


def timeline(turns: Sequence[Turn], start: float, seconds: int) -> list[dict[str, object]]:
    """One row per second since ``start``: turns sent, answers completed, and the
    p50/p95/p99 of the whole-answer latency of the turns sent in that second."""
    sent: dict[int, list[Turn]] = defaultdict(list)
    done: Counter[int] = Counter()
    for turn in turns:
        sent[int(turn.sent_at - start)].append(turn)
        if turn.last_at is not None:
            done[int(turn.last_at - start)] += 1
    last = max([seconds - 1, *sent, *done]) if (sent or done) else seconds - 1
    rows = []
    for second in range(last + 1):
        latencies = [t.whole_latency for t in sent[second] if t.whole_latency is not None]
        row: dict[str, object] = {"t": second, "sent": len(sent[second]), "done": done[second]}
        row["lost"] = lost(sent[second])
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            row[name] = round(percentile(latencies, q) * 1000, 1) if latencies else None
        rows.append(row)
    return rows


def recovery_seconds(rows: Sequence[dict[str, object]], after: float, p95_ms: float) -> int | None:
    """Seconds from ``after`` to the first second whose p95 is back within ``p95_ms`` and
    stays there for 5 seconds in a row; None if it never does."""
    streak = 0
    for row in rows:
        second = int(row["t"])  # type: ignore[call-overload]
        if second < after:
            continue
        p95 = row["p95"]
        streak = streak + 1 if p95 is not None and float(p95) <= p95_ms else 0  # type: ignore[arg-type]
        if streak == 5:
            return max(0, second - 4 - int(after))
    return None


def verdict(phases: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's targets for the whole path, met or not."""
    whole = phases.get("telegram")
    if whole is None:
        return {}
    found: dict[str, Any] = {}

    def add(name: str, value: float | None, target: float, met: bool) -> None:
        found[name] = {"value": value, "target": target, "met": met}

    overall = whole["latency"]["all"]["whole"]
    for q in ("p95", "p99"):
        value, target = overall[q], TARGETS[f"{q}_ms"]
        add(f"{q}_ms", value, target, value is not None and value <= target)
    add("lost", whole["lost"], 0, whole["lost"] == 0)
    add("duplicated", whole["duplicated"], 0, whole["duplicated"] == 0)
    add("incomplete", whole["incomplete"], 0, whole["incomplete"] == 0)
    rate = round(whole["answered_rate"], 1)
    add("answered_per_s", rate, whole["offered_rate"], rate >= 0.98 * whole["offered_rate"])
    direct = phases.get("direct")
    if direct is not None:
        # The gateway can show nothing before Rasa's whole answer: its first message
        # against Rasa's answer is what the gateway adds. Only while both kept up: with
        # queues growing, the difference measures the queues, not the gateway.
        first = whole["latency"]["all"]["first"]["p50"]
        rasa = direct["latency"]["all"]["whole"]["p50"]
        kept_up = all(p["answered_rate"] >= 0.98 * p["offered_rate"] for p in (whole, direct))
        if first is not None and rasa is not None:
            target = TARGETS["gateway_overhead_p50_ms"]
            overhead = round(first - rasa, 1)
            add("gateway_overhead_p50_ms", overhead, target, overhead <= target)
            if not kept_up:
                found["gateway_overhead_p50_ms"]["met"] = None
    return found
