"""What the training feature says and which buttons it offers (ntsa_assistant.training.texts)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from datetime import UTC as _UTC
from datetime import datetime as _datetime

import pytest

from ntsa_assistant.core.i18n import t
from ntsa_assistant.protocol import Custom
from ntsa_assistant.storage.models import Audience, Language, RegistrationStatus
from ntsa_assistant.storage.models import Audience as _Audience
from ntsa_assistant.storage.models import Language as _Language
from ntsa_assistant.training import texts
from ntsa_assistant.training import texts as _texts
from ntsa_assistant.training.views import RegistrationInfo, TrainingOffer
from ntsa_assistant.training.views import TrainingOffer as _Offer
from ntsa_assistant.training.views import TrainingSessionInfo as _Info
from tests.support.training import DEALERS_SESSION, registration_info

DEALERS = DEALERS_SESSION
EVERYONE = dataclasses.replace(
    DEALERS,
    code="TRN-ALL-02",
    title="e-Citizen for everyone",
    audience=Audience.ALL,
    language=Language.SW,
    starts_at=datetime(2027, 1, 21, 11, 0, tzinfo=UTC),  # 14:00 in Nairobi
    ends_at=datetime(2027, 1, 21, 13, 0, tzinfo=UTC),
)
NOW = datetime(2027, 1, 10, tzinfo=UTC)


def registration(status: RegistrationStatus, position: int | None = None) -> RegistrationInfo:
    return registration_info(status=status, waitlist_position=position)


def test_the_session_menu_numbers_each_session_and_its_button_names_it() -> None:
    offers = [TrainingOffer(DEALERS, 1), TrainingOffer(EVERYONE, 0)]
    text, buttons = texts.session_menu("en", offers, texts.Intent.TRAINING_CHOOSE)
    assert text.splitlines() == [
        "1. Motor dealers: linking your company — Wednesday, 20 January 2027, 10:00 "
        f"(English), {t('en', 'training.seat_left')}",
        "2. e-Citizen for everyone — Thursday, 21 January 2027, 14:00 "
        f"(Kiswahili), {t('en', 'training.seats_full')}",
    ]
    assert [b.title for b in buttons] == [
        f"1. 20 Jan, 10:00 (EN) · {t('en', 'training.seat_left')}",
        f"2. 21 Jan, 14:00 (SW) · {t('en', 'training.seats_full')}",
    ]
    assert [b.payload for b in buttons] == [
        '/training_choose{"training_session":"TRN-DLR-01"}',
        '/training_choose{"training_session":"TRN-ALL-02"}',
    ]


def test_a_full_session_offers_its_waitlist_first_then_the_others_and_stop() -> None:
    full, other = TrainingOffer(DEALERS, 0), TrainingOffer(EVERYONE, 5)
    answer = texts.ask_session("en", [full, other], full)
    assert answer.text.startswith(
        t(
            "en",
            "training.session_full",
            title=DEALERS.title,
            when="Wednesday, 20 January 2027, 10:00",
        )
    )
    assert [b.payload for b in answer.buttons] == [
        '/training_choose{"training_session":"TRN-DLR-01","training_waitlist":"yes"}',
        '/training_choose{"training_session":"TRN-ALL-02"}',
        "/training_stop",
    ]


def test_no_upcoming_session_says_so_and_offers_only_stop() -> None:
    answer = texts.ask_session("sw", [], None)
    assert answer.text == t("sw", "training.no_sessions")
    assert [b.payload for b in answer.buttons] == ["/training_stop"]


def test_the_audience_question_offers_every_choosable_audience() -> None:
    answer = texts.ask_audience("en")
    assert answer.text == t("en", "training.ask_audience")
    assert [b.payload for b in answer.buttons] == [
        f'/training_choose{{"training_audience":"{a.value}"}}'
        for a in Audience
        if a is not Audience.ALL
    ]


def test_the_confirmation_masks_phone_and_kra_pin() -> None:
    answer = texts.ask_confirmation(
        "en", DEALERS, "Wanjiru Kamau", "+254712345678", None, "P051234567K"
    )
    assert answer.text == t(
        "en",
        "training.confirm",
        title=DEALERS.title,
        when="Wednesday, 20 January 2027, 10:00",
        name="Wanjiru Kamau",
        phone="***********78",
        email=t("en", "training.no_email"),
        pin_line=t("en", "training.confirm_pin_line", pin="P*******67K"),
    )
    assert "+254712345678" not in answer.text
    assert [b.payload for b in answer.buttons] == ["/training_confirm", "/training_stop"]


def test_outcomes_confirmed_and_waitlisted() -> None:
    confirmed = texts.outcome("en", registration(RegistrationStatus.CONFIRMED))
    assert confirmed == t(
        "en",
        "training.confirmed",
        reference="TRN-ABCD-EFGH",
        title=DEALERS.title,
        when="Wednesday, 20 January 2027, 10:00",
        join_url=DEALERS.join_url,
    )
    waitlisted = texts.outcome("sw", registration(RegistrationStatus.WAITLISTED, position=3))
    assert waitlisted == t(
        "sw", "training.waitlisted", title=DEALERS.title, position=3, reference="TRN-ABCD-EFGH"
    )


def test_the_calendar_file_is_a_document_reply() -> None:
    reply = texts.calendar_file("en", registration(RegistrationStatus.CONFIRMED), NOW)
    assert reply["type"] == Custom.DOCUMENT
    assert reply["filename"] == "TRN-DLR-01-TRN-ABCD-EFGH.ics"
    assert reply["mime_type"] == "text/calendar"
    assert base64.b64decode(reply["content_base64"]).startswith(b"BEGIN:VCALENDAR")
    assert reply["caption"] == t("en", "training.ics_caption", title=DEALERS.title)


def test_my_registrations_lists_each_with_cancel_and_move() -> None:
    answer = texts.my_registrations("en", [registration(RegistrationStatus.CONFIRMED)])
    assert answer.text.splitlines()[0] == t("en", "training.my_header")
    assert [b.payload for b in answer.buttons] == [
        '/training_cancel{"training_reference":"TRN-ABCD-EFGH"}',
        '/training_move{"training_reference":"TRN-ABCD-EFGH"}',
    ]
    assert texts.my_registrations("en", []).text == t("en", "training.my_none")


def test_moving_offers_only_the_other_sessions() -> None:
    info = registration(RegistrationStatus.CONFIRMED)
    offers = [TrainingOffer(DEALERS, 1), TrainingOffer(EVERYONE, 4)]
    answer = texts.ask_move("en", info, offers)
    assert [b.payload for b in answer.buttons] == [
        '/training_move_to{"training_reference":"TRN-ABCD-EFGH","training_session":"TRN-ALL-02"}'
    ]
    assert texts.ask_move("en", info, offers[:1]).text == t("en", "training.move_none")


# --- answers typed instead of tapped -------------------------------------------------------------


def _offer(code: str, hour: int, seats: int = 5, title: str = "Motorists") -> _Offer:
    info = _Info(
        code=code,
        title=title,
        audience=_Audience.MOTORISTS,
        language=_Language.EN,
        starts_at=_datetime(2027, 1, 19, hour, 0, tzinfo=_UTC),
        ends_at=_datetime(2027, 1, 19, hour + 2, 0, tzinfo=_UTC),
        capacity=200,
        join_url=f"https://meet.example.org/{code}",
    )
    return _Offer(info, seats)


OFFERS = [_offer("MOT-A", 7), _offer("MOT-B", 11, title="Madereva")]


@pytest.mark.parametrize(
    ("text", "audience"),
    [
        ("1", _Audience.MOTORISTS),
        ("motorist", _Audience.MOTORISTS),
        ("Dereva", _Audience.MOTORISTS),
        ("mwenye gari", _Audience.MOTORISTS),
        ("2", _Audience.MOTOR_DEALERS),
        ("muuzaji wa magari", _Audience.MOTOR_DEALERS),
        ("sacco", _Audience.FINANCIAL_INSTITUTIONS),
        ("Benki", _Audience.FINANCIAL_INSTITUTIONS),
        ("bima", _Audience.INSURANCE),
        ("insurance", _Audience.INSURANCE),
        ("ya saba", None),
        ("8", None),
        ("hello", None),
    ],
)
def test_an_audience_typed_in_either_language(text, audience):
    assert _texts.read_audience(text) is audience


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1", "MOT-A"),
        ("2", "MOT-B"),
        ("ya pili", "MOT-B"),
        ("the first one", "MOT-A"),
        ("Madereva", "MOT-B"),  # its title
        ("19 Jan, 14:00", "MOT-B"),  # its date as on the button
        ("19 Jan 2027 10:00", "MOT-A"),
        ("3", None),
        ("19 jan", None),  # both are on that day
        ("asubuhi", None),
    ],
)
def test_a_session_typed_by_number_title_or_date(text, code):
    picked = _texts.read_session(text, OFFERS)
    assert (picked.code if picked else None) == code
    assert picked is None or picked.waitlist is False


@pytest.mark.parametrize("text", ["waitlist", "Join the waitlist", "jiunge na orodha ya kusubiri"])
def test_after_a_full_session_its_waitlist_is_typed(text):
    full = _offer("MOT-F", 5, seats=0, title="Full one")
    picked = _texts.read_session(text, [full, *OFFERS], full)
    assert picked == _texts.SessionPick("MOT-F", waitlist=True)
    assert _texts.read_session("ndiyo", [full, *OFFERS], full) == picked
    # the menu under the waitlist offer numbers the other sessions only
    assert _texts.read_session("1", [full, *OFFERS], full) == _texts.SessionPick("MOT-A")


@pytest.mark.parametrize(
    ("text", "skips"),
    [
        *[(w, True) for w in ("skip", "Skip", "ruka", "Ruka", "none", "hakuna", "sina", "no")],
        *[(w, True) for w in ("hapana", "sina email", "sina barua pepe", "skp", "later")],
        *[(w, False) for w in ("jane@example.com", "not-an-email", "1", "cancel", "acha")],
    ],
)
def test_the_email_is_skipped_in_words(text, skips):
    assert _texts.read_email_skip(text) is skips


@pytest.mark.parametrize(
    ("text", "confirmed"),
    [
        *[(w, True) for w in ("yes", "Yes please", "ok", "sawa", "ndiyo", "Ndio", "1", "poa")],
        *[(w, True) for w in ("register me", "✅ Register me", "nisajili")],
        *[(w, False) for w in ("no", "hapana", "2", "cancel", "acha", "sitaki", "ghairi")],
        *[(w, None) for w in ("maybe", "what time is it", "")],
    ],
)
def test_the_confirmation_typed(text, confirmed):
    assert _texts.read_confirmation(text) is confirmed


@pytest.mark.parametrize(
    ("text", "free_text", "stops"),
    [
        *[(w, False, True) for w in ("cancel", "stop", "acha", "sitaki", "ghairi", "✖ Ghairi")],
        *[(w, False, True) for w in ("cancle", "basi")],
        ("1", False, False),  # a number names a listed option, never the ✖ button
        ("Basil", True, False),  # a name, not a typo of "basi"
        ("acha", True, True),
        ("Wanjiru", True, False),
    ],
)
def test_stopping_in_words(text, free_text, stops):
    assert _texts.read_stop(text, free_text=free_text) is stops
