"""The context card: the first message an agent reads in a new handoff's desk topic.

It says who is asking, why and about what, the last messages with the assistant, whether an
ID was proven in this chat (never the records behind it) and the person's training
registrations, so the agent need not ask again. Plain text (no parse mode, so nothing the
person typed can inject markup), in English, within one Telegram message. Every free text
is masked again here: the transcript was masked by the action server, but a card that
leaks an ID or a phone into a group of agents is one mistake too many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.core.telegram_text import clip, utf16_len
from ntsa_assistant.handoff.texts import masked, topic_title
from ntsa_assistant.protocol import HANDOFF_TURN_CHARS, HandoffReason, TranscriptLine

MESSAGE_LIMIT = 4096  # Telegram's longest text message, in UTF-16 units
LABEL_CHARS = 64
TYPED_REASON_CHARS = 500
MAX_REGISTRATIONS = 10
_DESK = "en"
_PERSON, _ASSISTANT = "👤", "🤖"


@dataclass(frozen=True)
class CardRegistration:
    """One of the person's training registrations (title, start, status in words)."""

    title: str
    starts_at: datetime
    status: str


@dataclass(frozen=True)
class Card:
    """What the desk knows about a new handoff when it opens."""

    number: int
    label: str
    lang: str
    reason: HandoffReason
    topic: str
    typed_reason: str | None
    transcript: tuple[TranscriptLine, ...]
    proven_id: str | None
    registrations: tuple[CardRegistration, ...]
    asked_at: datetime
    open_now: bool


def _text(key: str, **params: object) -> str:
    return t(_DESK, f"handoff.desk.card.{key}", **params)


def _free(text: str, chars: int) -> str:
    """A text the person wrote: masked, on one line, and shortened."""
    return clip(masked(text), chars)


def _language(lang: str) -> str:
    return _text(f"language_{lang}") if lang in ("en", "sw") else lang


def _head(card: Card) -> list[str]:
    label = _free(card.label, LABEL_CHARS) or "?"
    lines = [
        _text("title", number=card.number),
        _text("who", label=label, language=_language(card.lang)),
        _text("reason", reason=_text(f"reason_{card.reason.value}")),
        _text("topic", topic=topic_title("en", card.topic)),
    ]
    if card.typed_reason and card.typed_reason.strip():
        lines.append(_text("typed", text=_free(card.typed_reason, TYPED_REASON_CHARS)))
    return lines


def _tail(card: Card) -> list[str]:
    proof = _text("proof", id=masked(card.proven_id)) if card.proven_id else _text("no_proof")
    lines = ["", proof]
    shown = card.registrations[:MAX_REGISTRATIONS]
    if shown:
        lines.append(_text("registrations"))
        lines.extend(
            _text(
                "registration",
                title=r.title,
                when=spell_datetime(_DESK, r.starts_at),
                status=r.status,
            )
            for r in shown
        )
    else:
        lines.append(_text("no_registrations"))
    asked = "asked" if card.open_now else "asked_closed"
    lines += [_text(asked, when=spell_datetime(_DESK, card.asked_at)), "", _text("commands")]
    return lines


def _transcript_line(line: TranscriptLine) -> str:
    icon = _ASSISTANT if line.speaker == "assistant" else _PERSON
    return f"{icon} {_free(line.text, HANDOFF_TURN_CHARS)}"


def render_card(card: Card) -> str:
    """The card as one plain-text message of at most 4096 UTF-16 units; when the last
    messages do not all fit, the oldest are left out first (and the card says how many)."""
    head, tail = "\n".join(_head(card)), "\n".join(_tail(card))
    messages = [_transcript_line(line) for line in card.transcript]
    if not messages:
        return clip(f"{head}\n\n{_text('transcript_none')}\n{tail}", MESSAGE_LIMIT)
    dropped = 0
    while True:
        lines = [_text("transcript")]
        if dropped:
            lines.append(_text("transcript_cut", count=dropped))
        card_text = "\n".join([head, "", *lines, *messages[dropped:], tail])
        if utf16_len(card_text) <= MESSAGE_LIMIT or dropped == len(messages):
            return clip(card_text, MESSAGE_LIMIT)
        dropped += 1
