"""The contract between the gateway (``bot``) and the action server (``actions``).

Both sides import the names below; nothing that crosses the process boundary is spelt
anywhere else. Rasa sits between them and only carries these strings:

- **metadata** — what the gateway knows for sure about a turn, sent with the user's
  message (DESIGN.md, "One message, end to end", step 3);
- **payloads** — ``/intent{"entity": "value"}`` messages that only the gateway makes: for
  its commands, for the contact button, and for buttons the assistant offered (a user's
  own text is neutralised so it can never be one);
- **custom replies** — what an action asks the gateway to render beyond text and buttons.

A test checks that every intent named here exists in ``nlu/domain/*.yml``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from ntsa_assistant.core.identifiers import normalise_phone

PAYLOAD_PREFIX = "/"

# Rasa sends this header with every action call (nlu/endpoints.yml); the action server
# refuses a call without the shared secret in it before any action runs.
ACTION_SECRET_HEADER = "X-Action-Server-Secret"

# A signed contact claim counts only this long after the gateway signed it (a replay of an
# older one proves nothing), and is refused when dated further ahead than the clock skew.
CLAIM_MAX_AGE_SECONDS = 120
CLAIM_MAX_SKEW_SECONDS = 30
_CLAIM_VERSION = "contact-claim-v1"


class Meta(StrEnum):
    """Metadata keys the gateway sets on a turn."""

    CHANNEL = "channel"  # "telegram" or "local"
    USER_LANGUAGE = "user_language"  # Telegram's language_code of the user, if any
    CONTACT_IS_OWN = "contact_is_own"  # set only on a shared contact: is it the sender's own?
    VERIFIED_PHONE = "verified_phone"  # E.164; only when CONTACT_IS_OWN is True
    CLAIM_ISSUED_AT = "claim_issued_at"  # Unix seconds when the gateway signed the claim
    CLAIM_SIGNATURE = "claim_signature"  # HMAC-SHA256 (hex) of the claim, see sign_claim
    # Telegram's update id: the same number again is the same turn sent again, answered by
    # Rasa with its first answer, not played twice (nlu/ntsa_rasa/rest.py)
    TURN_ID = "turn_id"


class Intent(StrEnum):
    """Intents sent as payloads: by the gateway's commands and contact button, and by the
    buttons the assistant offers (the domain builds them; the gateway relays them)."""

    CONTACT_SHARED = "contact_shared"
    FAQ_MENU = "faq_menu"
    FAQ_MORE = "faq_more"
    CHOOSE_LANGUAGE = "choose_language"
    SET_LANGUAGE = "set_language"
    HUMAN_HANDOFF = "human_handoff"
    STATUS_SEND_CODE = "status_send_code"
    STATUS_CANCEL = "status_cancel"
    TRAINING_REGISTER = "training_register"
    TRAINING_CHOOSE = "training_choose"
    TRAINING_SKIP = "training_skip"
    TRAINING_CONFIRM = "training_confirm"
    TRAINING_STOP = "training_stop"
    TRAINING_CANCEL = "training_cancel"
    TRAINING_CANCEL_CONFIRMED = "training_cancel_confirmed"
    TRAINING_KEEP = "training_keep"
    TRAINING_MOVE = "training_move"
    TRAINING_MOVE_TO = "training_move_to"


class Entity(StrEnum):
    """Entities a payload may carry."""

    FAQ_TOPIC = "faq_topic"
    LANGUAGE = "language"
    TRAINING_AUDIENCE = "training_audience"
    TRAINING_SESSION = "training_session"
    TRAINING_WAITLIST = "training_waitlist"
    TRAINING_REFERENCE = "training_reference"
    HANDOFF_REASON = "handoff_reason"


class HandoffReason(StrEnum):
    """Why a person is handed to an agent (the ``handoff_reason`` entity of
    ``/human_handoff``; typed requests carry none and count as ASKED)."""

    ASKED = "asked"  # the person asked in words ("agent please", "nataka kuongea na mtu")
    MISSES = "misses"  # the button offered after two misses in a row
    COMMAND = "command"  # the gateway's /agent command
    GAVE_UP = "gave_up"  # the button offered where the assistant gave up (e.g. a failed look-up)


class Custom(StrEnum):
    """Kinds of custom reply (``{"type": kind, ...}``) the gateway renders."""

    # text + a one-tap "share my phone" keyboard, and other choices as keyboard buttons
    REQUEST_CONTACT = "request_contact"
    REMOVE_KEYBOARD = "remove_keyboard"  # text, and the share keyboard goes away
    DOCUMENT = "document"  # a file: filename, mime_type, content_base64, caption
    HANDOFF = "handoff"  # hand this chat to an agent: see handoff_request


def payload(intent: str, entities: Mapping[str, str] | None = None) -> str:
    """``/faq_more{"faq_topic":"closure"}`` — a message Rasa reads as that intent."""
    if not entities:
        return f"{PAYLOAD_PREFIX}{intent}"
    return f"{PAYLOAD_PREFIX}{intent}{json.dumps(dict(entities), separators=(',', ':'))}"


def is_payload(text: str | None) -> bool:
    """Whether a message is a payload (a button tap), which says nothing of its language."""
    return bool(text) and str(text).startswith(PAYLOAD_PREFIX)


@dataclass(frozen=True)
class Button:
    """A button the assistant offers: tapping it sends ``intent`` with ``entities``."""

    title: str
    intent: Intent | str
    entities: Mapping[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> str:
        return payload(self.intent, self.entities)


@dataclass(frozen=True)
class Answer:
    """What the assistant says: a text, its buttons, and for some answers a longer part."""

    text: str
    more: str | None = None
    buttons: tuple[Button, ...] = ()


# --- custom replies ---------------------------------------------------------------------


def request_contact(text: str, button: str, choices: Sequence[Button] = ()) -> dict[str, Any]:
    """``text`` with a keyboard: ``button`` shares the person's phone, and each of
    ``choices`` (below it) sends its payload — one message, where inline buttons for the
    choices would need a second (a message carries one keyboard)."""
    found: dict[str, Any] = {"type": Custom.REQUEST_CONTACT.value, "text": text, "button": button}
    if choices:
        found["buttons"] = [{"title": b.title, "payload": b.payload} for b in choices]
    return found


def remove_keyboard(text: str) -> dict[str, Any]:
    return {"type": Custom.REMOVE_KEYBOARD.value, "text": text}


def document(filename: str, mime_type: str, content: bytes, caption: str) -> dict[str, Any]:
    return {
        "type": Custom.DOCUMENT.value,
        "filename": filename,
        "mime_type": mime_type,
        "content_base64": base64.b64encode(content).decode("ascii"),
        "caption": caption,
    }


# --- the handoff request ------------------------------------------------------------------
#
# The action that takes "talk to a person" answers with one custom reply; the gateway, which
# owns the agents' desk, asks what it is about and opens the handoff. The transcript is
# masked by the action (IDs, phones, KRA PINs, e-mails) before it leaves the action server.

HANDOFF_TRANSCRIPT_TURNS = 10
HANDOFF_TURN_CHARS = 500


@dataclass(frozen=True)
class TranscriptLine:
    """One message of the conversation before the handoff, already masked."""

    speaker: str  # "person" or "assistant"
    text: str


@dataclass(frozen=True)
class HandoffRequest:
    """What the gateway needs to open a handoff, as the action server saw the conversation."""

    lang: str
    reason: HandoffReason
    transcript: tuple[TranscriptLine, ...] = ()
    proven_id: str | None = None  # the masked national ID proven in this conversation, if any


def handoff_request(request: HandoffRequest) -> dict[str, Any]:
    lines = request.transcript[-HANDOFF_TRANSCRIPT_TURNS:]
    return {
        "type": Custom.HANDOFF.value,
        "lang": request.lang,
        "reason": request.reason.value,
        "transcript": [
            {"speaker": line.speaker, "text": line.text[:HANDOFF_TURN_CHARS]} for line in lines
        ],
        "proven_id": request.proven_id,
    }


def parse_handoff_request(custom: Mapping[str, Any]) -> HandoffRequest | None:
    """The request in a custom reply, or None when it is not one (or malformed)."""
    if custom.get("type") != Custom.HANDOFF.value:
        return None
    raw_reason = custom.get("reason")
    known = {reason.value for reason in HandoffReason}
    reason = HandoffReason(raw_reason) if raw_reason in known else HandoffReason.ASKED
    lang = custom.get("lang") if custom.get("lang") in ("en", "sw") else "en"
    raw_lines = custom.get("transcript")
    lines = [
        TranscriptLine(
            "assistant" if item.get("speaker") == "assistant" else "person",
            item["text"][:HANDOFF_TURN_CHARS],
        )
        for item in (raw_lines if isinstance(raw_lines, list) else [])
        if isinstance(item, Mapping) and isinstance(item.get("text"), str) and item["text"]
    ][-HANDOFF_TRANSCRIPT_TURNS:]
    proven = custom.get("proven_id")
    return HandoffRequest(
        str(lang), reason, tuple(lines), proven if isinstance(proven, str) and proven else None
    )


# --- the contact claim --------------------------------------------------------------------
#
# Rasa's REST channel accepts any metadata from anyone who reaches it, so the gateway signs
# what it asserts: an HMAC over the sender (chat id), the claim and the time, keyed with a
# secret only the gateway and the action server hold (GATEWAY_SIGNING_SECRET). The action
# server believes a claim only with a valid, fresh signature for the chat it is serving.

Secret = SecretStr | str | None


def _key(secret: Secret) -> bytes | None:
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return raw.encode("utf-8") if raw else None


def claim_signature(secret: Secret, sender: str, own: bool, phone: str, issued_at: int) -> str:
    """The HMAC-SHA256 (hex) of one claim; every field is bound, in an unambiguous encoding."""
    key = _key(secret)
    if key is None:
        raise ValueError("no signing secret")
    message = json.dumps([_CLAIM_VERSION, sender, own, phone, issued_at], separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def contact_metadata(
    own: bool, phone_number: str | None, sender: str, secret: Secret, now: float | None = None
) -> dict[str, Any]:
    """The gateway's signed claim about a shared contact: the phone only when it is the
    sender's own. Without a secret the claim goes unsigned, and so proves nothing."""
    claim: dict[str, Any] = {Meta.CONTACT_IS_OWN.value: own}
    phone = normalise_phone(phone_number) if own else None
    if phone is not None:
        claim[Meta.VERIFIED_PHONE.value] = phone
    if _key(secret) is not None:
        issued_at = int(time.time() if now is None else now)
        claim[Meta.CLAIM_ISSUED_AT.value] = issued_at
        claim[Meta.CLAIM_SIGNATURE.value] = claim_signature(
            secret, sender, own, phone or "", issued_at
        )
    return claim


def is_contact_turn(metadata: Mapping[str, Any]) -> bool:
    """Whether this turn carries a shared contact (own or not)."""
    return Meta.CONTACT_IS_OWN.value in metadata


def claim_problem(
    metadata: Mapping[str, Any], sender: str, secret: Secret, now: float | None = None
) -> str | None:
    """Why this turn's claim of an own contact proves nothing (None: it proves its phone)."""
    own = metadata.get(Meta.CONTACT_IS_OWN.value)
    if own is not True:
        return "no own-contact claim"
    raw_phone = metadata.get(Meta.VERIFIED_PHONE.value)
    phone = normalise_phone(raw_phone) if isinstance(raw_phone, str) else None
    if phone is None or phone != raw_phone:
        return "no valid phone in the claim"
    if _key(secret) is None:
        return "no signing secret configured"
    issued_at = metadata.get(Meta.CLAIM_ISSUED_AT.value)
    signature = metadata.get(Meta.CLAIM_SIGNATURE.value)
    if type(issued_at) is not int or not isinstance(signature, str):
        return "unsigned claim"
    expected = claim_signature(secret, sender, own, phone, issued_at)
    if not hmac.compare_digest(expected, signature):
        return "bad signature (forged, altered or for another chat)"
    age = (time.time() if now is None else now) - issued_at
    if age > CLAIM_MAX_AGE_SECONDS:
        return f"stale claim ({age:.0f} s old, replayed?)"
    if age < -CLAIM_MAX_SKEW_SECONDS:
        return f"claim dated {-age:.0f} s in the future"
    return None


def proven_phone(
    metadata: Mapping[str, Any], sender: str, secret: Secret, now: float | None = None
) -> str | None:
    """The phone Telegram vouches for: only the sender's own contact (``is True``, not any
    truthy value), only from metadata the gateway signed for this ``sender`` moments ago,
    and only a valid number (E.164); else None."""
    if claim_problem(metadata, sender, secret, now) is not None:
        return None
    return str(metadata[Meta.VERIFIED_PHONE.value])
