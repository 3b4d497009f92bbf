"""Training sessions and applicants made up for the database tests (tests/db)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import Audience, Language, TrainingSession
from ntsa_assistant.training.views import Applicant

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
