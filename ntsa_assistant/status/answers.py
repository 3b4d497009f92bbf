"""Everything the status feature says: the status answer (:func:`compose`, a pure function
of a status, the part asked for, the language and the time, with advice that fits the date),
what to tell the user after each proof step (:func:`explain`), and the offer of a person
where the check gives up (:func:`person_offer`)."""

from __future__ import annotations

from datetime import datetime

from ntsa_assistant.core.i18n import spell_date, spell_datetime, t
from ntsa_assistant.core.masking import mask_id_number, mask_kra_pin
from ntsa_assistant.faq import timeline
from ntsa_assistant.protocol import Answer, Button, Entity, HandoffReason, Intent
from ntsa_assistant.status.lookup import Part, PersonStatus
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


def compose(status: PersonStatus, part: Part, lang: str, now: datetime) -> str:
    """The answer to a proven person: the part they asked for, in their language."""
    sections = [t(lang, "status.header", id=mask_id_number(status.id_number))]
    if part in (Part.ALL, Part.VALIDATION):
        sections.append(_validation(status, lang))
    if part in (Part.ALL, Part.ORGANISATIONS):
        organisations = _organisations(status, lang, asked=part is Part.ORGANISATIONS)
        if organisations:
            sections.append(organisations)
    if part in (Part.ALL, Part.PENDING):
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
