"""Everything the status feature says: the status answer (:func:`compose`, a pure function
of a status, the part asked for, the language and the time, with advice that fits the date),
what to tell the user after each proof step (:func:`explain`), and the offer of a person
where the check gives up (:func:`person_offer`); at the proof step, the code alternative
and "cancel" as buttons, and the same choices typed (:func:`read_proof_choice`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from ntsa_assistant.core import typed
from ntsa_assistant.core.i18n import spell_date, spell_datetime, t
from ntsa_assistant.core.masking import mask_id_number, mask_kra_pin
from ntsa_assistant.core.typed import Word
from ntsa_assistant.faq import timeline
from ntsa_assistant.protocol import Answer, Button, Entity, HandoffReason, Intent
from ntsa_assistant.status.lookup import Part, Parts, PersonStatus
from ntsa_assistant.status.verification import Outcome, Result
from ntsa_assistant.storage.models import LinkStatus


def _left(lang: str, days_left: int) -> str:
    if days_left == 0:
        return t(lang, "status.left_today")
    if days_left == 1:
        return t(lang, "status.left_one")
    return t(lang, "status.left_many", days=days_left)


def _validation(status: PersonStatus, lang: str) -> str:
    if status.validated_on is not None:
        return t(lang, "status.validated", day=spell_date(lang, status.validated_on))
    site = timeline.default_timeline().agency.new_system_site
    return t(lang, "status.not_validated", site=site)


def _organisations(status: PersonStatus, lang: str, asked: bool) -> str | None:
    if not status.organisations:
        return t(lang, "status.no_organisations") if asked else None
    lines = [t(lang, "status.organisations_intro")]
    for org in status.organisations:
        lines.append(
            t(
                lang,
                "status.organisation_line",
                name=org.name,
                pin=mask_kra_pin(org.kra_pin),
                link=t(lang, f"status.link.{org.link_status.value}"),
            )
        )
    if any(org.link_status is not LinkStatus.LINKED for org in status.organisations):
        lines.append(t(lang, "status.link_howto"))
    return "\n".join(lines)


def pending_advice(lang: str, now: datetime) -> str:
    """What to do about open applications, given the date."""
    facts = timeline.default_timeline()
    deadline = timeline.deadline_status(facts.pending_transactions.deadline, now)
    dates = {
        "deadline": spell_date(lang, facts.pending_transactions.deadline),
        "last_open_day": spell_date(lang, facts.closure.last_open_day),
        "last_closed_day": spell_date(lang, facts.closure.last_closed_day),
        "new_only_day": spell_date(lang, facts.new_system_only.from_day),
        "site": facts.agency.new_system_site,
        "agency_site": facts.agency.agency_site,
    }
    if not deadline.passed:
        return t(lang, "status.advice.upcoming", left=_left(lang, deadline.days_left), **dates)
    stage = timeline.phase(facts, now)
    return t(lang, f"status.advice.{stage.value}", **dates)


def _pending(status: PersonStatus, lang: str, now: datetime) -> str:
    pending = status.pending
    if not pending:
        return t(lang, "status.nothing_pending")
    lines = [t(lang, "status.pending_intro", count=len(pending))]
    for tx in pending:
        lines.append(
            t(
                lang,
                "status.pending_line",
                reference=tx.reference,
                service=tx.service,
                state=t(lang, f"status.state.{tx.status.value}"),
                updated=spell_date(lang, tx.updated_on),
            )
        )
    lines.append(pending_advice(lang, now))
    return "\n".join(lines)


def compose(status: PersonStatus, part: Part | Parts, lang: str, now: datetime) -> str:
    """The answer to a proven person: the part (or parts) they asked for, in their language."""
    asked = frozenset({part}) if isinstance(part, Part) else part
    everything = Part.ALL in asked

    def wanted(one: Part) -> bool:
        return everything or one in asked

    sections = [t(lang, "status.header", id=mask_id_number(status.id_number))]
    if wanted(Part.VALIDATION):
        sections.append(_validation(status, lang))
    if wanted(Part.ORGANISATIONS):
        organisations = _organisations(status, lang, asked=not everything)
        if organisations:
            sections.append(organisations)
    if wanted(Part.PENDING):
        sections.append(_pending(status, lang, now))
    return "\n\n".join(sections)


def explain(result: Result, lang: str) -> str | None:
    """What to tell the user after a proof step; None when the answer itself follows."""
    match result.outcome:
        case Outcome.PROVEN | Outcome.NEEDS_PROOF:
            return None
        case Outcome.NOT_OWN_CONTACT:
            return t(lang, "status.not_own_contact")
        case Outcome.CODE_SENT:
            key = "status.code_sent_mismatch" if result.mismatch else "status.code_sent"
            return t(lang, key, ending=result.phone_ending)
        case Outcome.WRONG_CODE if result.tries_left == 1:
            return t(lang, "status.wrong_code_one")
        case Outcome.WRONG_CODE:
            return t(lang, "status.wrong_code_many", tries=result.tries_left)
        case Outcome.NO_CODE:
            return t(lang, "status.code_dead")
        case Outcome.CODES_UNAVAILABLE:
            return t(lang, "status.codes_unavailable")
        case Outcome.LOCKED:
            assert result.retry_at is not None
            return t(lang, "status.locked", when=spell_datetime(lang, result.retry_at))


def person_offer(lang: str) -> Answer:
    """After the apology for a look-up that could not be done: a person may help instead
    (the button tells the agent the assistant gave up)."""
    entities = {Entity.HANDOFF_REASON.value: HandoffReason.GAVE_UP.value}
    button = Button(t(lang, "status.person_button"), Intent.HUMAN_HANDOFF, entities)
    return Answer(t(lang, "status.person_offer"), buttons=(button,))


# --- the proof step's choices ------------------------------------------------------------------
#
# Where the share-my-phone keyboard is shown, the code alternative and "cancel" are its other
# buttons (one message); in later replies of the step they are inline buttons. The same
# choices typed ("no", "code", "2", "acha") are read by :func:`read_proof_choice`.

LANGUAGES = ("en", "sw")

# Replies at the proof step that show the code and cancel buttons under their text.
_WITH_CHOICES = frozenset(
    {
        "status.code_alternative",
        "status.code_offer",
        "status.proof_options",
        "status.typed_phone",
        "status.code_not_sent_yet",
    }
)


class ProofChoice(StrEnum):
    """What a typed answer at the proof step asks for."""

    SEND_CODE = "send_code"  # the code button, or its words ("code", "nitumie code")
    DECLINE = "decline"  # "no", "hapana", "sitaki": won't share the phone
    ACCEPT = "accept"  # "yes", "ndiyo", "sawa": agrees to what was offered
    CANCEL = "cancel"  # the cancel button, or "cancel", "stop", "acha"


def proof_choices(lang: str) -> tuple[Button, Button]:
    """The code alternative and "cancel", as buttons."""
    return (
        Button(t(lang, "status.code_button"), Intent.STATUS_SEND_CODE),
        Button(t(lang, "status.cancel_button"), Intent.STATUS_CANCEL),
    )


def proof_reply(key: str, lang: str) -> Answer:
    """A proof-step text by its key, with the code and cancel buttons where it offers them."""
    buttons = proof_choices(lang) if key in _WITH_CHOICES else ()
    return Answer(t(lang, key), buttons=buttons)


def read_proof_choice(text: str, numbered: bool = True) -> ProofChoice | None:
    """What ``text``, typed at the proof step, chooses; None when it chooses nothing.
    A button's title or the code's words are read in either language (people mix them);
    a number picks a button only where the buttons were just shown (``numbered``)."""
    code_names = [t(lang, "status.code_button") for lang in LANGUAGES]
    code_names += [w for lang in LANGUAGES for w in t(lang, "status.code_words").split("|")]
    cancel_names = [t(lang, "status.cancel_button") for lang in LANGUAGES]
    reading = typed.read_answer(text, [code_names, cancel_names], numbered=numbered)
    if reading.option is not None:
        return (ProofChoice.SEND_CODE, ProofChoice.CANCEL)[reading.option]
    if reading.says(Word.NO):
        return ProofChoice.DECLINE
    if reading.says(Word.CANCEL):
        return ProofChoice.CANCEL
    if reading.says(Word.YES):
        return ProofChoice.ACCEPT
    return None
