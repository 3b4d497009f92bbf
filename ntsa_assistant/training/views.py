"""What the training feature returns: plain, frozen views of its rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ntsa_assistant.storage.models import (
    Audience,
    Language,
    RegistrationStatus,
    TrainingSession,
)


@dataclass(frozen=True)
class TrainingSessionInfo:
    code: str
    title: str
    audience: Audience
    language: Language
    starts_at: datetime
    ends_at: datetime
    capacity: int
    join_url: str

    @classmethod
    def of(cls, row: TrainingSession) -> TrainingSessionInfo:
        return cls(
            row.code,
            row.title,
            row.audience,
            row.language,
            row.starts_at,
            row.ends_at,
            row.capacity,
            row.join_url,
        )


@dataclass(frozen=True)
class Applicant:
    """Who registers: already validated (see the ``validate_*`` functions).

    ``phone_proven``: the phone came from Telegram's share of the sender's own contact.
    Only a proven phone reserves its place in a training session (see booking)."""

    chat_id: int
    full_name: str
    phone: str
    language: Language
    email: str | None = None
    kra_pin: str | None = None
    phone_proven: bool = False


@dataclass(frozen=True)
class RegistrationInfo:
    id: int
    reference: str
    status: RegistrationStatus
    training_session: TrainingSessionInfo
    chat_id: int
    full_name: str
    phone: str
    email: str | None
    kra_pin: str | None
    language: Language
    created_at: datetime
    waitlist_position: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.status is RegistrationStatus.CONFIRMED


@dataclass(frozen=True)
class RegisterResult:
    registration: RegistrationInfo
    existing: bool  # the person was already registered: nothing new was written


@dataclass(frozen=True)
class CancelResult:
    cancelled: RegistrationInfo
    promoted: RegistrationInfo | None


@dataclass(frozen=True)
class MoveResult:
    moved: RegisterResult
    cancelled: RegistrationInfo | None  # None when already registered for the target
    promoted: RegistrationInfo | None


@dataclass(frozen=True)
class TrainingOffer:
    training_session: TrainingSessionInfo
    seats_left: int


@dataclass(frozen=True)
class TrainingSessionCounts:
    training_session: TrainingSessionInfo
    confirmed: int
    waitlisted: int
