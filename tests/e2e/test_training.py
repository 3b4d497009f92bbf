"""Training registration as a new user tries it, through the Telegram emulator, in English
and Kiswahili: register and get the .ics, be waitlisted, get promoted, receive a reminder,
cancel. Bad input is answered and asked again.

The 2-seat demo session TRN-DLR-01 (motor dealers, 20 January 2027, 10:00 Nairobi) is set
up by the test itself (every earlier registration cancelled, then all seats but one taken
by invented people), so the test does not depend on what ran before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ntsa_assistant.core.i18n import spell_short_datetime, t
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.storage.models import Language
from ntsa_assistant.training.booking import cancel, register
from ntsa_assistant.training.queries import export_rows, training_session_counts
from ntsa_assistant.training.views import Applicant

pytestmark = pytest.mark.e2e

SESSION = "TRN-DLR-01"
STARTS = datetime(2027, 1, 20, 7, 0, tzinfo=UTC)
MOT_01 = datetime(2027, 1, 19, 7, 0, tzinfo=UTC)
MOT_02 = datetime(2027, 1, 19, 11, 0, tzinfo=UTC)
# 55 minutes before TRN-DLR-01 starts: its one-hour reminder is due.
REMINDER_NOW = "2027-01-20T09:05:00+03:00"
WAIT = 30


@dataclass(frozen=True)
class Phrases:
    lang: str
    start: str
    mine: str


PHRASES = {
    "en": Phrases("en", "I want to attend a training", "show my training registrations"),
    "sw": Phrases("sw", "nataka kuhudhuria mafunzo", "nionyeshe usajili wangu wa mafunzo"),
}


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or m.get("caption") or "" for m in messages)


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def button_starting(message: dict, prefix_part: str) -> str:
    found = [b for b in buttons(message) if prefix_part in b]
    assert found, f"no button with {prefix_part!r} in {buttons(message)}"
    return found[0]


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

    async def choose_dealer_session(self) -> dict:
        [question] = await self.say(self.p.start)
        assert question["text"] == self.tx("ask_audience")
        [menu] = await self.press(self.tx("audience.motor_dealers"))
        assert "2027" in menu["text"]
        return menu

    async def fill_in(self, phone: str, name: str = "Wanjiru Kamau") -> list[dict]:
        """From the name question to the confirmation summary, with a few bad answers."""
        replies = await self.say("😀😀😀", count=2)
        assert replies[0]["text"] == self.tx("name_no_letters")
        assert replies[1]["text"] == self.tx("ask_name")
        replies = await self.say("x" * 500, count=2)
        assert replies[0]["text"] == self.tx("name_too_long")
        [ask_phone] = await self.say(name)
        assert ask_phone["text"] == self.tx("ask_phone")
        replies = await self.say("12345", count=2)
        assert replies[0]["text"] == self.tx("phone_invalid")
        self.tg.share_contact(self.chat, phone)
        [ask_email] = await self.read()
        assert ask_email["text"] == self.tx("ask_email")
        replies = await self.say("not-an-email", count=2)
        assert replies[0]["text"] == self.tx("email_invalid")
        [ask_pin] = await self.press(self.tx("button_skip"))
        assert ask_pin["text"] == self.tx("ask_kra_pin")
        replies = await self.say("P12345K", count=2)
        assert replies[0]["text"] == self.tx("kra_pin_invalid")
        [summary] = await self.say("p051234567k")
        assert name in summary["text"]
        assert phone not in summary["text"]  # masked
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
    when = spell_short_datetime(lang, STARTS)

    # B takes the last seat and gets the calendar file.
    first = User(telegram, chat_id, phrases)
    menu = await first.choose_dealer_session()
    await first.press(button_starting(menu, when))
    await first.fill_in("+254711000" + str(chat_id)[-3:])
    confirmed, document = await first.press(first.tx("button_confirm"), count=2)
    assert "https://meet.example.org/trn-dlr-01" in confirmed["text"]
    reference = confirmed["text"].split("TRN-", 1)[1].split()[0]
    assert document["method"] == "sendDocument"
    ics = document["document"]
    assert ics["file_name"].endswith(".ics")
    content = ics["content"].decode()
    assert "DTSTART;TZID=Africa/Nairobi:20270120T100000" in content
    assert "https://meet.example.org/trn-dlr-01" in content
    assert f"TRN-{reference}".lower() in content.lower()

    # A finds the session full and joins the waitlist.
    second = User(telegram, chat_id + 100_000, phrases)  # a chat no other test uses
    menu = await second.choose_dealer_session()
    [full] = await second.press(button_starting(menu, when))
    assert t(lang, "training.seats_full") in texts([menu])
    assert second.tx("button_waitlist") in buttons(full)
    [ask_name] = await second.press(second.tx("button_waitlist"))
    assert ask_name["text"] == second.tx("ask_name")
    await second.fill_in("+254722000" + str(chat_id)[-3:], name="Otieno Ochieng")
    [waiting] = await second.press(second.tx("button_confirm"))
    assert "1" in waiting["text"]
    assert "TRN-" in waiting["text"]

    # B cancels in chat; A is promoted and told by the gateway, with the calendar file.
    [cancelled] = await first.cancel_all()
    assert cancelled["text"].startswith(first.tx("cancelled", reference="X", title="Y")[:6])
    promoted, promoted_ics = await second.read(count=2)
    assert "https://meet.example.org/trn-dlr-01" in promoted["text"]
    assert promoted_ics["document"]["file_name"].endswith(".ics")

    # An hour before the session, the gateway reminds A (and only once).
    await gateway.restart(ASSISTANT_NOW=REMINDER_NOW)
    try:
        [reminder] = await second.read()
        assert "https://meet.example.org/trn-dlr-01" in reminder["text"]
        opening = second.tx("reminder", title="", when="", join_url="", reference="")[:5]
        assert reminder["text"].startswith(opening)
        await asyncio.sleep(3)
        assert telegram.unread(second.chat) == []
    finally:
        await gateway.restart(ASSISTANT_NOW=None)

    # A cancels too; nothing is left in "my registrations".
    [cancelled] = await second.cancel_all()
    [nothing] = await second.say(phrases.mine)
    assert nothing["text"] == second.tx("my_none")


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
    user = User(telegram, chat_id, PHRASES["en"])
    await user.say(user.p.start)
    [menu] = await user.press(user.tx("audience.motorists"))
    await user.press(button_starting(menu, spell_short_datetime("en", MOT_01)))
    [ask_phone] = await user.say("Achieng Atieno")
    assert ask_phone["text"] == user.tx("ask_phone"), ask_phone
    [ask_email] = await user.say("0733 123 456")
    assert ask_email["text"] == user.tx("ask_email"), ask_email
    [summary] = await user.press(user.tx("button_skip"))  # motorists give no KRA PIN
    assert "KRA" not in summary["text"]
    confirmed, _ics = await user.press(user.tx("button_confirm"), count=2)
    old = "TRN-" + confirmed["text"].split("TRN-", 1)[1].split()[0]

    [choices] = await user.say("move my training to another session")
    move_title = button_starting(choices, user.tx("button_move", reference=old))
    [targets] = await user.press(move_title)
    moved, new_confirmation, new_ics = await user.press(
        button_starting(targets, spell_short_datetime("en", MOT_02)), count=3
    )
    assert old in moved["text"]
    assert "trn-mot-02" in new_confirmation["text"]
    assert new_ics["document"]["file_name"].startswith("TRN-MOT-02")
    mine = [r for r in await export_rows(db) if r.registration.chat_id == chat_id]
    assert sorted((r.registration.training_session.code, r.registration.status) for r in mine) == [
        ("TRN-MOT-01", "cancelled"),
        ("TRN-MOT-02", "confirmed"),
    ]
