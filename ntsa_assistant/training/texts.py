"""Everything the training feature says, in the reader's language: questions, menus of
training sessions, outcomes, reminders and notices. Texts are in ``locales/<lang>/training.toml``;
buttons name the intents of :class:`ntsa_assistant.protocol.Intent`. The action server and
the gateway only send what these functions return. The ``read_*`` functions read what a
person types instead of tapping those buttons (see :mod:`ntsa_assistant.core.typed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ntsa_assistant import protocol
from ntsa_assistant.core import typed
from ntsa_assistant.core.i18n import Lang, spell_datetime, spell_short_datetime, t
from ntsa_assistant.core.masking import mask_kra_pin, mask_phone
from ntsa_assistant.core.typed import Word
from ntsa_assistant.protocol import Answer, Button, Entity, Intent
from ntsa_assistant.storage.models import Audience
from ntsa_assistant.training import calendar
from ntsa_assistant.training.rules import CHOOSABLE_AUDIENCES
from ntsa_assistant.training.views import RegistrationInfo, TrainingOffer, TrainingSessionInfo

YES = "yes"  # the value of the waitlist entity on "join the waitlist"


def stop_button(lang: Lang) -> Button:
    return Button(t(lang, "training.button_stop"), Intent.TRAINING_STOP)


def seats_text(lang: Lang, seats: int) -> str:
    if seats <= 0:
        return t(lang, "training.seats_full")
    if seats == 1:
        return t(lang, "training.seat_left")
    return t(lang, "training.seats_left", count=seats)


def _language_name(lang: Lang, training_session: TrainingSessionInfo) -> str:
    return t(lang, f"training.language_{training_session.language.value}")


def _short_title(lang: Lang, offer: TrainingOffer) -> str:
    session = offer.training_session
    when = spell_short_datetime(lang, session.starts_at)
    return f"{when} ({session.language.value.upper()}) · {seats_text(lang, offer.seats_left)}"


def session_menu(
    lang: Lang,
    offers: Sequence[TrainingOffer],
    intent: Intent,
    entities: Mapping[str, str] | None = None,
) -> tuple[str, list[Button]]:
    """Numbered lines (title, full date, seats) and one short button per training session."""
    lines, buttons = [], []
    for number, offer in enumerate(offers, start=1):
        session = offer.training_session
        seats = seats_text(lang, offer.seats_left)
        lines.append(
            t(
                lang,
                "training.session_line",
                number=number,
                title=session.title,
                when=spell_datetime(lang, session.starts_at),
                language=_language_name(lang, session),
                seats=seats,
            )
        )
        title = f"{number}. {_short_title(lang, offer)}"
        chosen = {**(entities or {}), Entity.TRAINING_SESSION: session.code}
        buttons.append(Button(title, intent, chosen))
    return "\n".join(lines), buttons


# --- the registration form's questions ---------------------------------------------------------


def ask_audience(lang: Lang) -> Answer:
    buttons = tuple(
        Button(
            t(lang, f"training.audience.{audience.value}"),
            Intent.TRAINING_CHOOSE,
            {Entity.TRAINING_AUDIENCE: audience.value},
        )
        for audience in CHOOSABLE_AUDIENCES
    )
    return Answer(t(lang, "training.ask_audience"), buttons=buttons)


def ask_session(lang: Lang, offers: Sequence[TrainingOffer], full: TrainingOffer | None) -> Answer:
    """The training sessions to pick from; after a full one was picked, its waitlist first."""
    if full is not None:
        others = [offer for offer in offers if offer is not full]
        session = full.training_session
        text = t(
            lang,
            "training.session_full",
            title=session.title,
            when=spell_datetime(lang, session.starts_at),
        )
        menu, buttons = session_menu(lang, others, Intent.TRAINING_CHOOSE)
        waitlist = Button(
            t(lang, "training.button_waitlist"),
            Intent.TRAINING_CHOOSE,
            {Entity.TRAINING_SESSION: session.code, Entity.TRAINING_WAITLIST: YES},
        )
        text = f"{text}\n\n{menu}" if menu else text
        return Answer(text, buttons=(waitlist, *buttons, stop_button(lang)))
    if not offers:
        return Answer(t(lang, "training.no_sessions"), buttons=(stop_button(lang),))
    menu, buttons = session_menu(lang, offers, Intent.TRAINING_CHOOSE)
    text = f"{t(lang, 'training.ask_session')}\n{menu}"
    return Answer(text, buttons=(*buttons, stop_button(lang)))


def ask_name(lang: Lang) -> Answer:
    return Answer(t(lang, "training.ask_name"), buttons=(stop_button(lang),))


def ask_phone(lang: Lang) -> dict[str, Any]:
    """A custom reply: the question with Telegram's one-tap "share my phone" keyboard."""
    return protocol.request_contact(
        t(lang, "training.ask_phone"), t(lang, "training.button_share_phone")
    )


def ask_email(lang: Lang) -> Answer:
    skip = Button(t(lang, "training.button_skip"), Intent.TRAINING_SKIP)
    return Answer(t(lang, "training.ask_email"), buttons=(skip, stop_button(lang)))


def ask_kra_pin(lang: Lang) -> Answer:
    return Answer(t(lang, "training.ask_kra_pin"), buttons=(stop_button(lang),))


def ask_confirmation(
    lang: Lang,
    training_session: TrainingSessionInfo,
    name: str,
    phone: str,
    email: str | None,
    kra_pin: str | None,
) -> Answer:
    """Everything the person gave, masked where it is an identifier, to confirm."""
    text = t(
        lang,
        "training.confirm",
        title=training_session.title,
        when=spell_datetime(lang, training_session.starts_at),
        name=name,
        phone=mask_phone(phone),
        email=email or t(lang, "training.no_email"),
        pin_line=t(lang, "training.confirm_pin_line", pin=mask_kra_pin(kra_pin)) if kra_pin else "",
    )
    confirm = Button(t(lang, "training.button_confirm"), Intent.TRAINING_CONFIRM)
    return Answer(text, buttons=(confirm, stop_button(lang)))


def say(lang: Lang, name: str) -> str:
    """A plain sentence of the feature by its name: a refusal's ``reason`` (why a step was
    refused), or a short acknowledgement (``stopped``, ``kept``, ``already``)."""
    return t(lang, f"training.{name}")


# --- outcomes ------------------------------------------------------------------------------------


def _about(lang: Lang, key: str, info: RegistrationInfo, **extra: object) -> str:
    """A text about one registration; its templates take any of ``title``, ``when``,
    ``reference`` and ``join_url`` (a template uses the ones it needs)."""
    session = info.training_session
    return t(
        lang,
        key,
        title=session.title,
        when=spell_datetime(lang, session.starts_at),
        reference=info.reference,
        join_url=session.join_url,
        **extra,
    )


def status_text(lang: Lang, info: RegistrationInfo) -> str:
    if info.confirmed:
        return t(lang, "training.status_confirmed")
    return t(lang, "training.status_waitlisted", position=info.waitlist_position)


def outcome(lang: Lang, info: RegistrationInfo) -> str:
    """What a new (or existing) registration is told: confirmed with the link, or waitlisted."""
    if not info.confirmed:
        return _about(lang, "training.waitlisted", info, position=info.waitlist_position)
    return _about(lang, "training.confirmed", info)


def calendar_file(lang: Lang, info: RegistrationInfo, now: datetime) -> dict[str, Any]:
    """A custom reply: the registration's ``.ics`` file with its caption."""
    return protocol.document(
        calendar.filename(info),
        calendar.MIME_TYPE,
        calendar.build_ics(info, lang, now),
        calendar_caption(lang, info),
    )


def calendar_caption(lang: Lang, info: RegistrationInfo) -> str:
    return t(lang, "training.ics_caption", title=info.training_session.title)


def promoted(lang: Lang, info: RegistrationInfo) -> str:
    """The notice to the first on the waitlist when a seat frees up."""
    return _about(lang, "training.promoted", info)


def reminder(lang: Lang, info: RegistrationInfo) -> str:
    return _about(lang, "training.reminder", info)


def my_registrations(lang: Lang, mine: Sequence[RegistrationInfo]) -> Answer:
    if not mine:
        return Answer(t(lang, "training.my_none"))
    lines = [t(lang, "training.my_header")]
    buttons: list[Button] = []
    for info in mine:
        lines.append(_about(lang, "training.my_line", info, status=status_text(lang, info)))
        ref: dict[str, str] = {Entity.TRAINING_REFERENCE: info.reference}
        cancel = t(lang, "training.button_cancel", reference=info.reference)
        move = t(lang, "training.button_move", reference=info.reference)
        buttons += [
            Button(cancel, Intent.TRAINING_CANCEL, ref),
            Button(move, Intent.TRAINING_MOVE, ref),
        ]
    return Answer("\n".join(lines), buttons=tuple(buttons))


def ask_cancel(lang: Lang, info: RegistrationInfo) -> Answer:
    text = _about(lang, "training.cancel_confirm", info)
    ref: dict[str, str] = {Entity.TRAINING_REFERENCE: info.reference}
    buttons = (
        Button(t(lang, "training.button_yes_cancel"), Intent.TRAINING_CANCEL_CONFIRMED, ref),
        Button(t(lang, "training.button_keep"), Intent.TRAINING_KEEP),
    )
    return Answer(text, buttons=buttons)


def cancelled(lang: Lang, info: RegistrationInfo) -> str:
    return _about(lang, "training.cancelled", info)


def ask_move(lang: Lang, info: RegistrationInfo, offers: Sequence[TrainingOffer]) -> Answer:
    """Where to move a registration: the other upcoming training sessions of its audience."""
    others = [o for o in offers if o.training_session.code != info.training_session.code]
    if not others:
        return Answer(t(lang, "training.move_none"))
    menu, buttons = session_menu(
        lang, others, Intent.TRAINING_MOVE_TO, {Entity.TRAINING_REFERENCE: info.reference}
    )
    text = f"{t(lang, 'training.move_choose', reference=info.reference)}\n{menu}"
    return Answer(text, buttons=tuple(buttons))


def moved(lang: Lang, old: RegistrationInfo) -> str:
    return t(lang, "training.moved", old_reference=old.reference)


# --- answers typed instead of tapped -------------------------------------------------------------
#
# A button's title is recognised in either language (people mix them), whatever the flow's.

LANGUAGES: tuple[Lang, ...] = ("en", "sw")


def _titles(key: str) -> list[str]:
    return [t(lang, f"training.{key}") for lang in LANGUAGES]


def read_stop(text: str, free_text: bool = False) -> bool:
    """Whether ``text`` stops the registration: "cancel", "acha", "sitaki", the ✖ button's
    title. Where any text may be the answer (a name), typos are not forgiven."""
    reading = typed.read_answer(text, [_titles("button_stop")], typos=not free_text, numbered=False)
    return reading.option == 0 or reading.says(Word.CANCEL)


def read_audience(text: str) -> Audience | None:
    """The audience typed: its number in the list, or its title ("motorist", "SACCO")."""
    names = [_titles(f"audience.{audience.value}") for audience in CHOOSABLE_AUDIENCES]
    option = typed.read_answer(text, names).option
    return None if option is None else CHOOSABLE_AUDIENCES[option]


@dataclass(frozen=True)
class SessionPick:
    """A training session picked by typing: its code, and whether it is its waitlist."""

    code: str
    waitlist: bool = False


def _session_names(offer: TrainingOffer) -> list[str]:
    """What a person may type to name a session: its button, title, or date."""
    session = offer.training_session
    names = [session.title, session.code]
    for lang in LANGUAGES:
        names += [
            _short_title(lang, offer),
            spell_datetime(lang, session.starts_at),
            spell_short_datetime(lang, session.starts_at),
        ]
    return names


def read_session(
    text: str, offers: Sequence[TrainingOffer], full: TrainingOffer | None = None
) -> SessionPick | None:
    """The session typed, among the ones :func:`ask_session` showed: its number in the
    list, its date or title; after a full one was picked, "waitlist" or "yes" joins its
    waitlist."""
    listed = [offer for offer in offers if offer is not full]
    options: list[list[str]] = [_session_names(offer) for offer in listed]
    if full is not None:
        options.append(_titles("button_waitlist") + ["waitlist", "orodha ya kusubiri"])
    reading = typed.read_answer(text, options)
    if full is not None and (reading.option == len(listed) or reading.says(Word.YES)):
        return SessionPick(full.training_session.code, waitlist=True)
    if reading.option is None or reading.option >= len(listed):
        return None
    return SessionPick(listed[reading.option].training_session.code)


def read_email_skip(text: str) -> bool:
    """Whether ``text`` skips the e-mail: "skip", "ruka", "none", "hakuna", "sina", "no"."""
    reading = typed.read_answer(text, [_titles("button_skip")], numbered=False)
    return reading.option == 0 or reading.says(Word.SKIP, Word.NO)


def read_confirmation(text: str) -> bool | None:
    """True for "yes", "ndiyo", "sawa", "ok", "1", "Register me"; False for "no",
    "hapana", "2", "cancel"; None when the text says neither."""
    reading = typed.read_answer(text, [_titles("button_confirm"), _titles("button_stop")])
    if reading.option is not None:
        return reading.option == 0
    if reading.says(Word.NO, Word.CANCEL):
        return False
    if reading.says(Word.YES):
        return True
    return None
