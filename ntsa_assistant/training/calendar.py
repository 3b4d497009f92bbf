"""A registration's calendar file (iCalendar, RFC 5545), built with ``icalendar``.

Times are written in Africa/Nairobi with its VTIMEZONE, so a calendar shows the training
session at the right hour wherever the reader is. The event's UID is the registration's
reference, so importing the file twice updates one event instead of adding a second.
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import t
from ntsa_assistant.training.views import RegistrationInfo

PRODID = "-//NTSA e-Citizen migration assistant//Training//EN"
UID_DOMAIN = "ntsa-assistant.ecitizen.example"
MIME_TYPE = "text/calendar"


def event_uid(reference: str) -> str:
    return f"{reference.lower()}@{UID_DOMAIN}"


def filename(registration: RegistrationInfo) -> str:
    return f"{registration.training_session.code}-{registration.reference}.ics"


def build_ics(registration: RegistrationInfo, lang: str, now: datetime) -> bytes:
    """The ``.ics`` bytes for one registration: one VEVENT, its VTIMEZONE, the join link."""
    training_session = registration.training_session
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("calscale", "GREGORIAN")
    event = Event()
    event.add("uid", event_uid(registration.reference))
    event.add("dtstamp", now.astimezone(UTC).replace(microsecond=0))  # always UTC
    event.add("dtstart", training_session.starts_at.astimezone(NAIROBI))
    event.add("dtend", training_session.ends_at.astimezone(NAIROBI))
    event.add("summary", training_session.title)
    event.add(
        "description",
        t(
            lang,
            "training.ics_description",
            reference=registration.reference,
            join_url=training_session.join_url,
        ),
    )
    event.add("location", training_session.join_url)
    event.add("url", training_session.join_url)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    ical: bytes = calendar.to_ical()
    return ical
