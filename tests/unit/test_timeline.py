"""The migration's timeline: facts as data, phases and days left in Nairobi time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.timeline import (
    Phase,
    WindowState,
    days_until,
    deadline_status,
    default_timeline,
    load,
    phase,
    training_state,
)

TL = default_timeline()


def eat(*args: int) -> datetime:
    return datetime(*args, tzinfo=NAIROBI)


def test_the_packaged_timeline_holds_the_notices_facts() -> None:
    assert TL.closure.starts == eat(2023, 12, 30)  # midnight ending Friday 29 December
    assert TL.closure.ends == eat(2024, 1, 2)  # midnight ending Monday 1 January
    assert TL.closure.last_open_day == date(2023, 12, 29)
    assert TL.closure.last_closed_day == date(2024, 1, 1)
    assert TL.new_system_only.from_day == date(2024, 1, 2)
    assert TL.pending_transactions.deadline == date(2023, 12, 15)
    assert (TL.training.first_day, TL.training.last_day) == (date(2023, 12, 18), date(2023, 12, 22))
    assert TL.training.virtual
    assert TL.training.free
    assert TL.government_directive.deadline == date(2023, 12, 31)
    assert set(TL.validation.categories) == {
        "motorists",
        "motor_dealers",
        "financial_institutions",
        "insurance",
        "companies",
        "embassies_missions",
        "government_mdas",
    }
    assert TL.validation.organisation_key == "KRA PIN"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (eat(2023, 12, 14, 12), Phase.BEFORE),
        (eat(2023, 12, 29, 23, 59, 59), Phase.BEFORE),
        (eat(2023, 12, 30, 0, 0), Phase.DURING),
        (datetime(2023, 12, 29, 21, 0, tzinfo=UTC), Phase.DURING),  # 00:00 in Nairobi
        (datetime(2023, 12, 29, 20, 59, tzinfo=UTC), Phase.BEFORE),
        (eat(2024, 1, 1, 23, 59, 59), Phase.DURING),
        (eat(2024, 1, 2, 0, 0), Phase.AFTER),
        (eat(2026, 6, 1), Phase.AFTER),
        (datetime(2024, 1, 1, 12, 0), Phase.DURING),  # naive: Nairobi time
    ],
)
def test_phase_of_the_closure(now: datetime, expected: Phase) -> None:
    assert phase(TL, now) is expected


def test_days_left_change_at_midnight_nairobi_not_utc() -> None:
    deadline = date(2023, 12, 15)
    assert days_until(deadline, eat(2023, 12, 14, 23, 59)) == 1
    assert days_until(deadline, eat(2023, 12, 15, 0, 0)) == 0
    # 21:30 UTC on the 14th is already the 15th in Nairobi.
    assert days_until(deadline, datetime(2023, 12, 14, 21, 30, tzinfo=UTC)) == 0
    assert days_until(deadline, datetime(2023, 12, 14, 20, 59, tzinfo=UTC)) == 1
    assert days_until(deadline, eat(2023, 12, 15, 23, 59)) == 0
    assert days_until(deadline, eat(2023, 12, 16, 0, 0)) == -1


def test_a_deadline_is_met_until_the_end_of_its_day() -> None:
    today = deadline_status(date(2023, 12, 15), eat(2023, 12, 15, 18))
    assert today.is_today
    assert not today.passed
    assert deadline_status(date(2023, 12, 15), eat(2023, 12, 16, 0, 1)).passed


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (eat(2023, 12, 17, 23, 59), WindowState.UPCOMING),
        (eat(2023, 12, 18, 0, 0), WindowState.ONGOING),
        (eat(2023, 12, 22, 23, 59), WindowState.ONGOING),
        (eat(2023, 12, 23, 0, 0), WindowState.OVER),
    ],
)
def test_training_window(now: datetime, state: WindowState) -> None:
    assert training_state(TL, now) is state


NEXT_AGENCY = """
[agency]
name = "KeRRA"
old_system = "RoadsNet"
new_system = "e-Citizen"
agency_site = "kerra.example"
new_system_site = "ecitizen.go.ke"

[closure]
starts = 2027-03-06T00:00:00+03:00
ends = 2027-03-09T00:00:00+03:00
last_open_day = 2027-03-05
last_closed_day = 2027-03-08

[new_system_only]
from_day = 2027-03-09

[pending_transactions]
deadline = 2027-02-26

[training]
first_day = 2027-03-01
last_day = 2027-03-03
virtual = true
free = true
registration_site = "kerra.example"

[government_directive]
deadline = 2027-03-31

[validation]
categories = ["companies", "government_mdas"]
organisation_key = "KRA PIN"
"""


def test_the_next_agencys_migration_is_a_data_change(tmp_path: Path) -> None:
    path = tmp_path / "timeline.toml"
    path.write_text(NEXT_AGENCY, "utf-8")
    timeline = load(path)
    now = eat(2027, 3, 2, 9)
    closure = faq.answer(faq.Topic.CLOSURE, "en", now, timeline).text
    assert "RoadsNet" in closure
    assert "Friday, 5 March 2027" in closure
    assert "in 3 days" in closure
    assert "TIMS" not in closure
    validate = faq.answer(faq.Topic.VALIDATE, "sw", now, timeline).text
    assert "KeRRA" in validate
    assert "wamiliki wa magari" not in validate
    assert phase(timeline, eat(2027, 3, 7)) is Phase.DURING


def test_a_timeline_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "timeline.toml"
    path.write_text(NEXT_AGENCY.replace("ends = 2027-03-09", "ends = 2027-03-01"), "utf-8")
    with pytest.raises(ValidationError):
        load(path)
