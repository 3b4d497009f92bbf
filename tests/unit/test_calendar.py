"""The .ics file: one event, Nairobi time zone, the join link, a UID per registration."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from ntsa_assistant.storage.models import Audience, Language, RegistrationStatus
from ntsa_assistant.training.calendar import build_ics, event_uid, filename
from ntsa_assistant.training.views import RegistrationInfo, TrainingSessionInfo

SESSION = TrainingSessionInfo(
    code="TRN-DLR-01",
    title="Motor dealers: linking your company",
    audience=Audience.MOTOR_DEALERS,
    language=Language.EN,
    starts_at=datetime(2027, 1, 20, 7, 0, tzinfo=UTC),  # 10:00 in Nairobi
    ends_at=datetime(2027, 1, 20, 9, 0, tzinfo=UTC),
    capacity=2,
    join_url="https://meet.example.org/trn-dlr-01",
)


def info(reference: str = "TRN-ABCD-EFGH") -> RegistrationInfo:
    return RegistrationInfo(
        id=1,
        reference=reference,
        status=RegistrationStatus.CONFIRMED,
        training_session=SESSION,
        chat_id=42,
        full_name="Wanjiru Kamau",
        phone="+254712345678",
        email=None,
        kra_pin="P051234567K",
        language=Language.EN,
        created_at=datetime(2027, 1, 1, tzinfo=UTC),
    )


NOW = datetime(2027, 1, 2, 8, 30, 15, 123, tzinfo=UTC)


def test_the_event_has_nairobi_times_and_the_join_link() -> None:
    raw = build_ics(info(), "en", NOW)
    text = raw.decode()
    assert "BEGIN:VTIMEZONE" in text
    assert "TZID:Africa/Nairobi" in text
    assert "DTSTART;TZID=Africa/Nairobi:20270120T100000" in text
    assert "DTEND;TZID=Africa/Nairobi:20270120T120000" in text
    assert "DTSTAMP:20270102T083015Z" in text

    calendar = Calendar.from_ical(raw)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == SESSION.starts_at
    assert event.decoded("dtend") == SESSION.ends_at
    assert str(event["uid"]) == event_uid("TRN-ABCD-EFGH")
    assert str(event["url"]) == SESSION.join_url
    assert SESSION.join_url in str(event["description"])
    assert "TRN-ABCD-EFGH" in str(event["description"])
    assert str(event["summary"]) == SESSION.title


def test_each_registration_has_its_own_uid_and_file_name() -> None:
    a, b = info("TRN-AAAA-AAAA"), info("TRN-BBBB-BBBB")
    assert event_uid(a.reference) != event_uid(b.reference)
    assert filename(a) == "TRN-DLR-01-TRN-AAAA-AAAA.ics"


def test_kiswahili_description() -> None:
    [event] = Calendar.from_ical(build_ics(info(), "sw", NOW)).walk("VEVENT")
    assert "Kiungo cha kujiunga" in str(event["description"])
