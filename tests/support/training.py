"""Training sessions, registrations and applicants made up for the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Audience,
    Language,
    RegistrationStatus,
    TrainingSession,
)
from ntsa_assistant.training.views import Applicant, RegistrationInfo, TrainingSessionInfo

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
STARTS = datetime(2027, 1, 20, 7, 0, tzinfo=UTC)


async def add_session(
    factory: SessionFactory,
    code: str = "TRN-T-01",
    capacity: int = 2,
    starts_at: datetime = STARTS,
    audience: Audience = Audience.MOTOR_DEALERS,
    language: Language = Language.EN,
) -> str:
    """Adds a training session titled ``Session <code>``; returns its code."""
    async with factory() as db, db.begin():
        db.add(
            TrainingSession(
                code=code,
                title=f"Session {code}",
                audience=audience,
                language=language,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=2),
                capacity=capacity,
                join_url=f"https://meet.example.org/{code.lower()}",
            )
        )
    return code


def person(n: int, lang: Language = Language.EN) -> Applicant:
    """Applicant ``n``: chat 900000+n, phone +2547 and n in eight digits."""
    return Applicant(
        chat_id=900_000 + n,
        full_name=f"Person {n}",
        phone=f"+2547{n:08d}",
        language=lang,
        kra_pin="P051234567K",
    )


DEALERS_SESSION = TrainingSessionInfo(
    code="TRN-DLR-01",
    title="Motor dealers: linking your company",
    audience=Audience.MOTOR_DEALERS,
    language=Language.EN,
    starts_at=datetime(2027, 1, 20, 7, 0, tzinfo=UTC),  # 10:00 in Nairobi
    ends_at=datetime(2027, 1, 20, 9, 0, tzinfo=UTC),
    capacity=2,
    join_url="https://meet.example.org/trn-dlr-01",
)


def registration_info(
    reference: str = "TRN-ABCD-EFGH",
    status: RegistrationStatus = RegistrationStatus.CONFIRMED,
    waitlist_position: int | None = None,
) -> RegistrationInfo:
    """Wanjiru's registration for :data:`DEALERS_SESSION` (no database needed)."""
    return RegistrationInfo(
        id=1,
        reference=reference,
        status=status,
        training_session=DEALERS_SESSION,
        chat_id=42,
        full_name="Wanjiru Kamau",
        phone="+254712345678",
        email=None,
        kra_pin="P051234567K",
        language=Language.EN,
        created_at=datetime(2027, 1, 1, tzinfo=UTC),
        waitlist_position=waitlist_position,
    )
