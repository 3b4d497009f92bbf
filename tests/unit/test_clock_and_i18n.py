from __future__ import annotations

from datetime import UTC, datetime

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import spell_date, spell_datetime, t


def test_a_fixed_instant_replaces_the_clock_in_nairobi_time() -> None:
    clock = Clock(datetime(2023, 12, 29, 21, 30, tzinfo=UTC))
    assert clock.now().isoformat() == "2023-12-30T00:30:00+03:00"
    assert clock.today().isoformat() == "2023-12-30"


def test_a_naive_instant_is_read_as_nairobi_time() -> None:
    assert Clock(datetime(2024, 1, 2, 8, 0)).now().utcoffset().total_seconds() == 3 * 3600


def test_dates_are_spelled_in_the_readers_language() -> None:
    day = datetime(2023, 12, 29, tzinfo=UTC).date()
    assert spell_date("en", day) == "Friday, 29 December 2023"
    assert spell_date("sw", day) == "Ijumaa, 29 Desemba 2023"
    assert spell_datetime("en", datetime(2027, 1, 18, 7, 0, tzinfo=UTC)) == (
        "Monday, 18 January 2027, 10:00"
    )


def test_unknown_languages_fall_back_to_english() -> None:
    assert t("fr", "common.apology_error") == t("en", "common.apology_error")
