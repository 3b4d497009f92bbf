"""The rules of training registration that need no database: what a person may type, who
needs a KRA PIN, when a training session counts as started or full, and the refusals.

Identifiers (phone, e-mail, KRA PIN) are parsed by :mod:`ntsa_assistant.core.identifiers`,
the same parsers the record import uses.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime

from ntsa_assistant.core import identifiers
from ntsa_assistant.core.identifiers import InvalidIdentifier
from ntsa_assistant.storage.models import Audience, Language, TrainingSession
from ntsa_assistant.training.views import Applicant, TrainingSessionInfo

NAME_MAX_LENGTH = 100
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes

ORGANISATION_AUDIENCES = frozenset(
    {
        Audience.MOTOR_DEALERS,
        Audience.FINANCIAL_INSTITUTIONS,
        Audience.INSURANCE,
        Audience.COMPANIES,
        Audience.EMBASSIES_MISSIONS,
        Audience.GOVERNMENT_MDAS,
    }
)
# The audiences a person picks from (``all`` is not one: its training sessions are offered
# to everyone).
CHOOSABLE_AUDIENCES: tuple[Audience, ...] = tuple(a for a in Audience if a is not Audience.ALL)


# --- refusals ---------------------------------------------------------------------------


class RegistrationError(Exception):
    """An expected refusal; ``reason`` names the text the user is shown. Only its
    subclasses are raised, each with a text of its own in ``locales/*/training.toml``."""

    reason: str


class UnknownTrainingSession(RegistrationError):
    reason = "session_unknown"


class TrainingSessionStarted(RegistrationError):
    reason = "session_started"


class PhoneTaken(RegistrationError):
    """Another chat already registered this phone number for the training session."""

    reason = "phone_taken"


class RegistrationNotFound(RegistrationError):
    reason = "not_found"


class SameTrainingSession(RegistrationError):
    """A move to the training session the registration is already in."""

    reason = "same_session"


class InvalidInput(ValueError):
    """A field the user typed is not acceptable; ``reason`` names the text that says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- what a person types (pure) ------------------------------------------------------------

_NAME_PUNCTUATION = frozenset(" '’-.")


# Words people type to leave a form; never taken as a name (the form offers a Cancel button).
STOP_WORDS = frozenset(
    {"stop", "cancel", "quit", "exit", "acha", "sitisha", "ghairi", "sitaki", "basi", "wacha"}
)


def validate_name(text: str) -> str:
    """A person's name: letters (any script), spaces, ``' - .``; 2 letters to 100 characters."""
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput("name_too_long")
    if name.lower().strip(".!") in STOP_WORDS:
        raise InvalidInput("name_is_stop_word")
    letters = sum(1 for ch in name if unicodedata.category(ch).startswith("L"))
    if letters < 2:
        raise InvalidInput("name_no_letters")
    for ch in name:
        if ch not in _NAME_PUNCTUATION and unicodedata.category(ch)[0] not in "LM":
            raise InvalidInput("name_bad_characters")
    return name


def validate_phone(text: str) -> str:
    """A Kenyan mobile or landline number, in any usual form → E.164 (``+2547...``)."""
    return _identifier(identifiers.parse_phone, text)


def validate_email(text: str) -> str:
    return _identifier(identifiers.parse_email, text)


def is_email(text: str) -> bool:
    """Whether ``text`` is an e-mail address and nothing else."""
    try:
        identifiers.parse_email(text)
    except InvalidIdentifier:
        return False
    return True


def validate_kra_pin(text: str) -> str:
    """A KRA PIN: a letter, nine digits, a letter (``P051234567K``)."""
    return _identifier(identifiers.parse_kra_pin, text)


def _identifier(parse: Callable[[str], str], text: str) -> str:
    try:
        return parse(text)
    except InvalidIdentifier as exc:
        raise InvalidInput(exc.reason) from None


def needs_kra_pin(audience: Audience | str | None) -> bool:
    return audience is not None and Audience(audience) in ORGANISATION_AUDIENCES


def parse_audience(value: object) -> Audience | None:
    try:
        audience = Audience(str(value))
    except ValueError:
        return None
    return audience if audience in CHOOSABLE_AUDIENCES else None


def new_reference() -> str:
    """``TRN-7KQ2-M9XD``: 8 random characters, about 40 bits."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"TRN-{chars[:4]}-{chars[4:]}"


def normalise_reference(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def has_started(training_session: TrainingSession | TrainingSessionInfo, now: datetime) -> bool:
    """A training session that has started takes no registration, move or promotion."""
    return training_session.starts_at <= now


def seats_left(capacity: int, confirmed: int) -> int:
    """Free seats (never below zero: a re-import may lower the capacity)."""
    return max(capacity - confirmed, 0)


def is_upcoming_for(
    training_session: TrainingSessionInfo, now: datetime, audience: Audience | None
) -> bool:
    """Not started yet, and meant for ``audience`` (its own training sessions and ``all``); any
    audience's when None."""
    if has_started(training_session, now):
        return False
    return audience is None or training_session.audience in (audience, Audience.ALL)


def applicant(
    *,
    chat_id: int,
    name: str,
    phone: str,
    language: Language,
    email: str | None,
    kra_pin: str | None,
    audience: Audience | None,
    phone_proven: bool = False,
) -> Applicant:
    """Who registers, every field checked again (the caller's state is never trusted);
    raises :class:`InvalidInput` for the first bad one. A KRA PIN is kept only for an
    organisation's audience and required there. ``phone_proven``: the phone is the sender's
    own shared contact — only such a phone holds a place (a typed one reserves nothing)."""
    pin = validate_kra_pin(kra_pin or "") if needs_kra_pin(audience) else None
    return Applicant(
        chat_id=chat_id,
        full_name=validate_name(name),
        phone=validate_phone(phone),
        language=language,
        email=validate_email(email) if email else None,
        kra_pin=pin,
        phone_proven=phone_proven,
    )
