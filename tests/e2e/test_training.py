"""Training registration as a new user tries it, through the Telegram emulator, in English
and Kiswahili: register and get the .ics, be waitlisted, get promoted, receive a reminder,
cancel. Bad input is answered and asked again.

The 2-seat demo session TRN-DLR-01 (motor dealers, 20 January 2027, 10:00 Nairobi) is set
up by the test itself (every earlier registration cancelled, then all seats but one taken
by invented people), so the test does not depend on what ran before it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ntsa_assistant.core.i18n import spell_datetime, spell_short_datetime, t
from ntsa_assistant.core.masking import mask_kra_pin, mask_phone
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.storage.models import Language
from ntsa_assistant.training.booking import cancel, register
from ntsa_assistant.training.queries import export_rows, training_session_counts
from ntsa_assistant.training.views import Applicant, RegistrationInfo, TrainingSessionInfo

pytestmark = pytest.mark.e2e

SESSION = "TRN-DLR-01"
STARTS = datetime(2027, 1, 20, 7, 0, tzinfo=UTC)
MOT_01 = datetime(2027, 1, 19, 7, 0, tzinfo=UTC)
MOT_02 = datetime(2027, 1, 19, 11, 0, tzinfo=UTC)
# 55 minutes before TRN-DLR-01 starts: its one-hour reminder is due.
REMINDER_NOW = "2027-01-20T09:05:00+03:00"
WAIT = 30
KRA_PIN = "P051234567K"


@dataclass(frozen=True)
class Phrases:
    lang: str
    start: str
    mine: str


PHRASES = {
    "en": Phrases("en", "I want to attend a training", "show my training registrations"),
    "sw": Phrases("sw", "nataka kuhudhuria mafunzo", "nionyeshe usajili wangu wa mafunzo"),
}


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def button_starting(message: dict, prefix_part: str) -> str:
    found = [b for b in buttons(message) if prefix_part in b]
    assert found, f"no button with {prefix_part!r} in {buttons(message)}"
    return found[0]


def unnumbered(line: str) -> str:
    return re.sub(r"^\d+\. ", "", line)


@pytest.fixture
async def db(e2e_database: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(e2e_database)
    yield create_session_factory(engine)
    await engine.dispose()


async def leave_one_seat(db: SessionFactory, tag: int) -> None:
    """Cancels every registration of the session, then fills all seats but one."""
    now = datetime.now(UTC)
    active = [r for r in await export_rows(db, SESSION) if r.registration.status != "cancelled"]
    for row in sorted(active, key=lambda r: r.registration.confirmed):  # waitlist first
        await cancel(db, row.registration.reference, now)
    [counts] = await training_session_counts(db, SESSION)
    for n in range(counts.training_session.capacity - 1):
        applicant = Applicant(
            chat_id=-(tag * 100 + n),  # no such chat: reminders to it fail, and are logged
            full_name=f"Seat Filler {n}",
            phone=f"+25479{tag % 1000:03d}{n:04d}",
            language=Language.EN,
            kra_pin="P051234567K",
        )
        await register(db, SESSION, applicant, now)


async def training_session(db: SessionFactory, code: str = SESSION) -> TrainingSessionInfo:
    [counts] = await training_session_counts(db, code)
    return counts.training_session


async def active_reference(db: SessionFactory, chat_id: int, code: str = SESSION) -> str:
    """The reference of the chat's registration for ``code`` that is not cancelled."""
    rows = await export_rows(db, code)
    [reference] = [
        r.registration.reference
        for r in rows
        if r.registration.chat_id == chat_id and r.registration.status != "cancelled"
    ]
    return reference


class User:
    """One chat's side of the conversation."""

    def __init__(self, telegram: object, chat_id: int, phrases: Phrases) -> None:
        self.tg = telegram
        self.chat = chat_id
        self.p = phrases
        self.lang = phrases.lang

    async def read(self, count: int = 1) -> list[dict]:
        return await self.tg.wait_for_messages(self.chat, count=count, timeout=WAIT)

    async def say(self, text: str, count: int = 1) -> list[dict]:
        self.tg.push_text(self.chat, text)
        return await self.read(count)

    async def press(self, title: str, count: int = 1) -> list[dict]:
        self.tg.press_button(self.chat, title)
        return await self.read(count)

    def tx(self, key: str, **params: object) -> str:
        return t(self.lang, f"training.{key}", **params)

    def when(self, session: TrainingSessionInfo) -> str:
        return spell_datetime(self.lang, session.starts_at)

    async def choose_dealer_session(self, session: TrainingSessionInfo, seats: str) -> dict:
        """Asks for a training as a motor dealer; the menu lists ``session`` with ``seats``."""
        [question] = await self.say(self.p.start)
        assert question["text"] == self.tx("ask_audience")
        [menu] = await self.press(self.tx("audience.motor_dealers"))
        header, *lines = menu["text"].splitlines()
        assert header == self.tx("ask_session")
        line = self.tx(
            "session_line",
            number=1,
            title=session.title,
            when=self.when(session),
            language=self.tx(f"language_{session.language.value}"),
            seats=seats,
        )
        assert [unnumbered(x) for x in lines if self.when(session) in x] == [unnumbered(line)]
        return menu

    def summary(
        self, session: TrainingSessionInfo, name: str, phone: str, kra_pin: str | None
    ) -> str:
        """The confirmation question for these details (phone and PIN masked)."""
        pin_line = self.tx("confirm_pin_line", pin=mask_kra_pin(kra_pin)) if kra_pin else ""
        return self.tx(
            "confirm",
            title=session.title,
            when=self.when(session),
            name=name,
            phone=mask_phone(phone),
            email=self.tx("no_email"),
            pin_line=pin_line,
        )

    async def fill_in(
        self, session: TrainingSessionInfo, phone: str, name: str = "Wanjiru Kamau"
    ) -> list[dict]:
        """From the name question to the confirmation summary, with a few bad answers: each
        is one message, what was wrong above the question asked again."""
        [again] = await self.say("😀😀😀")
        assert again["text"] == f"{self.tx('name_no_letters')}\n\n{self.tx('ask_name')}"
        [again] = await self.say("x" * 500)
        assert again["text"].startswith(self.tx("name_too_long") + "\n\n")
        [ask_phone] = await self.say(name)
        assert ask_phone["text"] == self.tx("ask_phone")
        [again] = await self.say("12345")
        assert again["text"].startswith(self.tx("phone_invalid") + "\n\n")
        self.tg.share_contact(self.chat, phone)
        [ask_email] = await self.read()
        assert ask_email["text"] == self.tx("ask_email")
        [again] = await self.say("not-an-email")
        assert again["text"].startswith(self.tx("email_invalid") + "\n\n")
        [ask_pin] = await self.press(self.tx("button_skip"))
        assert ask_pin["text"] == self.tx("ask_kra_pin")
        [again] = await self.say("P12345K")
        assert again["text"].startswith(self.tx("kra_pin_invalid") + "\n\n")
        [summary] = await self.say(KRA_PIN.lower())
        assert summary["text"] == self.summary(session, name, phone, KRA_PIN)
        return [summary]

    async def cancel_all(self) -> list[dict]:
        [listing] = await self.say(self.p.mine)
        cancel_title = button_starting(listing, self.tx("button_cancel", reference="TRN-"))
        [question] = await self.press(cancel_title)
        return await self.press(self.tx("button_yes_cancel"))


@pytest.mark.parametrize("lang", ["en", "sw"])
async def test_register_waitlist_promotion_reminder_cancel(
    telegram, gateway, db, chat_id, lang
) -> None:
    phrases = PHRASES[lang]
    await leave_one_seat(db, chat_id)
    session = await training_session(db)
    when = spell_short_datetime(lang, STARTS)

    # B takes the last seat and gets the calendar file.
    first = User(telegram, chat_id, phrases)
    menu = await first.choose_dealer_session(session, first.tx("seat_left"))
    await first.press(button_starting(menu, when))
    await first.fill_in(session, "+254711000" + str(chat_id)[-3:])
    # One message: the calendar file, the confirmation its caption.
    [document] = await first.press(first.tx("button_confirm"))
    reference = await active_reference(db, first.chat)
    confirmed = first.tx(
        "confirmed",
        reference=reference,
        title=session.title,
        when=first.when(session),
        join_url="https://meet.example.org/trn-dlr-01",
    )
    assert document["method"] == "sendDocument"
    assert document["caption"] == f"{confirmed}\n\n{first.tx('ics_caption', title=session.title)}"
    ics = document["document"]
    assert ics["file_name"] == f"{SESSION}-{reference}.ics"
    content = ics["content"].decode()
    assert "DTSTART;TZID=Africa/Nairobi:20270120T100000" in content
    assert "https://meet.example.org/trn-dlr-01" in content
    assert reference.lower() in content.lower()  # the event's UID

    # A finds the session full and joins the waitlist.
    second = User(telegram, chat_id + 100_000, phrases)  # a chat no other test uses
    menu = await second.choose_dealer_session(session, second.tx("seats_full"))
    [full] = await second.press(button_starting(menu, when))
    full_text = second.tx("session_full", title=session.title, when=second.when(session))
    assert full["text"].split("\n\n", 1)[0] == full_text
    assert buttons(full)[0] == second.tx("button_waitlist")
    assert buttons(full)[-1] == second.tx("button_stop")
    [ask_name] = await second.press(second.tx("button_waitlist"))
    assert ask_name["text"] == second.tx("ask_name")
    await second.fill_in(session, "+254722000" + str(chat_id)[-3:], name="Otieno Ochieng")
    [waiting] = await second.press(second.tx("button_confirm"))
    waiting_reference = await active_reference(db, second.chat)
    assert waiting["text"] == second.tx(
        "waitlisted", title=session.title, position=1, reference=waiting_reference
    )

    # B cancels in chat; A is promoted and told by the gateway, with the calendar file.
    [cancelled] = await first.cancel_all()
    assert cancelled["text"] == first.tx("cancelled", reference=reference, title=session.title)
    promoted, promoted_ics = await second.read(count=2)
    assert promoted["text"] == second.tx(
        "promoted",
        title=session.title,
        when=second.when(session),
        reference=waiting_reference,
        join_url="https://meet.example.org/trn-dlr-01",
    )
    assert promoted_ics["document"]["file_name"] == f"{SESSION}-{waiting_reference}.ics"

    # An hour before the session, the gateway reminds A (and only once).
    await gateway.restart(ASSISTANT_NOW=REMINDER_NOW)
    try:
        [reminder] = await second.read()
        assert reminder["text"] == second.tx(
            "reminder",
            title=session.title,
            when=second.when(session),
            join_url="https://meet.example.org/trn-dlr-01",
            reference=waiting_reference,
        )
        # Only once: a newcomer registered now is reminded by a later run of the same job,
        # which handles A's registration (an older one) first; once the newcomer's reminder
        # is here, any second reminder to A would have arrived before it.
        late = await register_newcomer(db, telegram, chat_id + 200_000)
        [later] = await telegram.wait_for_messages(late.chat_id, timeout=WAIT)
        assert later["text"] == t(
            "en",
            "training.reminder",
            title=session.title,
            when=spell_datetime("en", session.starts_at),
            join_url="https://meet.example.org/trn-dlr-01",
            reference=late.reference,
        )
        assert telegram.unread(second.chat) == []
    finally:
        await gateway.restart(ASSISTANT_NOW=None)

    # A cancels too; nothing is left in "my registrations".
    [cancelled] = await second.cancel_all()
    assert cancelled["text"] == second.tx(
        "cancelled", reference=waiting_reference, title=session.title
    )
    [nothing] = await second.say(phrases.mine)
    assert nothing["text"] == second.tx("my_none")


async def register_newcomer(db: SessionFactory, telegram: object, chat_id: int) -> RegistrationInfo:
    """Frees a seat filler's seat and gives it to a new chat, straight in the database."""
    now = datetime.now(UTC)
    fillers = [
        r.registration
        for r in await export_rows(db, SESSION)
        if r.registration.chat_id < 0 and r.registration.status == "confirmed"
    ]
    await cancel(db, fillers[0].reference, now)
    telegram.set_user(chat_id)  # type: ignore[attr-defined]  # a chat the bot may write to
    newcomer = Applicant(
        chat_id=chat_id,
        full_name="Late Arrival",
        phone=f"+25478{chat_id % 10_000_000:07d}",
        language=Language.EN,
        kra_pin=KRA_PIN,
    )
    result = await register(db, SESSION, newcomer, now)
    assert result.registration.confirmed
    return result.registration


async def test_stopping_the_form_saves_nothing(telegram, gateway, db, chat_id) -> None:
    user = User(telegram, chat_id, PHRASES["en"])
    [question] = await user.say(user.p.start)
    [menu] = await user.press(user.tx("audience.motorists"))
    await user.press(buttons(menu)[0])
    [stopped] = await user.press(user.tx("button_stop"))
    assert stopped["text"] == user.tx("stopped")
    assert all(r.registration.chat_id != chat_id for r in await export_rows(db))


async def test_a_motorist_registers_then_moves_to_another_session(
    telegram, gateway, db, chat_id
) -> None:
    first_choice = await training_session(db, "TRN-MOT-01")
    second_choice = await training_session(db, "TRN-MOT-02")
    user = User(telegram, chat_id, PHRASES["en"])
    await user.say(user.p.start)
    [menu] = await user.press(user.tx("audience.motorists"))
    await user.press(button_starting(menu, spell_short_datetime("en", MOT_01)))
    [ask_phone] = await user.say("Achieng Atieno")
    assert ask_phone["text"] == user.tx("ask_phone"), ask_phone
    [ask_email] = await user.say("0733 123 456")
    assert ask_email["text"] == user.tx("ask_email"), ask_email
    [summary] = await user.press(user.tx("button_skip"))  # motorists give no KRA PIN
    assert summary["text"] == user.summary(first_choice, "Achieng Atieno", "+254733123456", None)
    [confirmed] = await user.press(user.tx("button_confirm"))
    old = await active_reference(db, chat_id, "TRN-MOT-01")
    assert confirmed["caption"].split("\n\n")[0] == user.tx(
        "confirmed",
        reference=old,
        title=first_choice.title,
        when=user.when(first_choice),
        join_url=first_choice.join_url,
    )

    [choices] = await user.say("move my training to another session")
    move_title = button_starting(choices, user.tx("button_move", reference=old))
    [targets] = await user.press(move_title)
    [new_ics] = await user.press(button_starting(targets, spell_short_datetime("en", MOT_02)))
    new = await active_reference(db, chat_id, "TRN-MOT-02")
    moved, new_confirmation, _calendar = new_ics["caption"].split("\n\n")
    assert moved == user.tx("moved", old_reference=old)
    assert new_confirmation == user.tx(
        "confirmed",
        reference=new,
        title=second_choice.title,
        when=user.when(second_choice),
        join_url="https://meet.example.org/trn-mot-02",
    )
    assert new_ics["document"]["file_name"] == f"TRN-MOT-02-{new}.ics"
    mine = [r for r in await export_rows(db) if r.registration.chat_id == chat_id]
    assert sorted((r.registration.training_session.code, r.registration.status) for r in mine) == [
        ("TRN-MOT-01", "cancelled"),
        ("TRN-MOT-02", "confirmed"),
    ]


async def _register_for_mot_01(user: User, name: str, give_phone: Callable[[], object]) -> str:
    """Registers ``user`` for TRN-MOT-01 as a motorist; ``give_phone`` answers the phone
    question (typing it or sharing a contact). Returns the confirmation (the calendar
    file's caption begins with it)."""
    await user.say(user.p.start)
    [menu] = await user.press(user.tx("audience.motorists"))
    await user.press(button_starting(menu, spell_short_datetime("en", MOT_01)))
    [ask_phone] = await user.say(name)
    assert ask_phone["text"] == user.tx("ask_phone")
    give_phone()
    [ask_email] = await user.read()
    assert ask_email["text"] == user.tx("ask_email")
    await user.press(user.tx("button_skip"))
    [confirmed] = await user.press(user.tx("button_confirm"))
    return str(confirmed["caption"]).split("\n\n")[0]  # the confirmation, not the file's line


async def test_a_typed_phone_reserves_no_place_its_owner_still_registers(
    telegram, gateway, db, e2e_database, chat_id
) -> None:
    """Someone types the owner's number first; the owner, sharing their own contact, is
    not refused as "taken" — only a phone proven by Telegram holds a place."""
    phone = f"+2547335{chat_id % 100_000:05d}"
    squatter = User(telegram, chat_id, PHRASES["en"])
    owner = User(telegram, chat_id + 200_000, PHRASES["en"])
    first = await _register_for_mot_01(
        squatter, "Wairimu Njeri", lambda: telegram.push_text(squatter.chat, phone)
    )
    second = await _register_for_mot_01(
        owner, "Real Owner", lambda: telegram.share_contact(owner.chat, phone)
    )
    session = await training_session(db, "TRN-MOT-01")
    for user, text in ((squatter, first), (owner, second)):
        assert text == user.tx(
            "confirmed",
            reference=await active_reference(db, user.chat, "TRN-MOT-01"),
            title=session.title,
            when=user.when(session),
            join_url=session.join_url,
        )
    path = e2e_database.split(":///", 1)[1]
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT chat_id, phone_proven FROM training_registrations "
            "WHERE phone = ? AND status <> 'cancelled' ORDER BY id",
            (phone,),
        ).fetchall()
    assert rows == [(squatter.chat, 0), (owner.chat, 1)]
