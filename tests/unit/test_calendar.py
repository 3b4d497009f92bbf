"""The .ics file: one event, Nairobi time zone, the join link, a UID per registration."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from ntsa_assistant.training.calendar import build_ics, event_uid, filename
from ntsa_assistant.training.views import RegistrationInfo
from tests.support.training import DEALERS_SESSION, registration_info

SESSION = DEALERS_SESSION


def info(reference: str = "TRN-ABCD-EFGH") -> RegistrationInfo:
    return registration_info(reference)


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
