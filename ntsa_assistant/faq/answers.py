"""Answers to the questions people ask about the move, rendered from the timeline.

Every answer is a pure function of a topic, a language and ``now``: its wording comes from
``locales/<lang>/faq.toml``, its facts from the timeline, and its tense from the phase of
the closure (before, during, after) and the days left to each deadline.

Buttons name the intent that tapping them sends (:class:`ntsa_assistant.protocol.Button`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ntsa_assistant.core.i18n import Lang, has_text, spell_date, t
from ntsa_assistant.faq.timeline import (
    Phase,
    Timeline,
    days_until,
    deadline_status,
    default_timeline,
    phase,
    training_state,
)
from ntsa_assistant.protocol import Answer, Button, Entity, HandoffReason, Intent


class Channel(StrEnum):
    """Where an answer is read: in the chat (with buttons) or on the FAQ page."""

    CHAT = "chat"
    WEB = "web"


class Topic(StrEnum):
    CLOSURE = "closure"
    LOGIN = "login"
    PENDING = "pending"
    VALIDATE = "validate"
    LINK_ORG = "link_org"
    TRAINING = "training"
    WHY = "why"
    CONTACT = "contact"
    # Small talk and recovery: answered like topics, never listed in the menu.
    GREET = "greet"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    ACKNOWLEDGE = "acknowledge"
    CAPABILITIES = "capabilities"
    OUT_OF_SCOPE = "out_of_scope"
    HANDOFF = "handoff"


MENU_TOPICS: tuple[Topic, ...] = (
    Topic.CLOSURE,
    Topic.LOGIN,
    Topic.PENDING,
    Topic.VALIDATE,
    Topic.LINK_ORG,
    Topic.TRAINING,
    Topic.WHY,
    Topic.CONTACT,
)

# Intents a button may send (names in nlu/domain/faq.yml).
MENU = Intent.FAQ_MENU
MORE = Intent.FAQ_MORE
HUMAN = Intent.HUMAN_HANDOFF
# The person button after two misses says why it was offered (the agent sees the reason).
AFTER_MISSES = {Entity.HANDOFF_REASON.value: HandoffReason.MISSES.value}
GAVE_UP = {Entity.HANDOFF_REASON.value: HandoffReason.GAVE_UP.value}
TRAINING_REGISTER = Intent.TRAINING_REGISTER
TOPIC_PREFIX = "faq_"


# Each menu topic's stable name outside the chat: its anchor on the FAQ page
# (``/en/#pending-transactions``) and the bot's deep-link argument (``?start=…``). Never
# rename one: links to it are out in the world.
ANCHORS: Mapping[Topic, str] = {
    Topic.CLOSURE: "closure",
    Topic.LOGIN: "logging-in",
    Topic.PENDING: "pending-transactions",
    Topic.VALIDATE: "validating-your-account",
    Topic.LINK_ORG: "linking-an-organisation",
    Topic.TRAINING: "training",
    Topic.WHY: "why-the-move",
    Topic.CONTACT: "more-help",
}


def anchor(topic: Topic) -> str:
    """The topic's anchor on the FAQ page and its deep-link argument."""
    return ANCHORS[topic]


def topic_for_anchor(value: object) -> Topic | None:
    """The menu topic an anchor (or a deep-link argument) names; None for anything else."""
    text = str(value).strip().lower()
    return next((topic for topic, name in ANCHORS.items() if name == text), None)


def topic_command(topic: Topic) -> str:
    """The command that asks for one menu topic, e.g. ``faq_closure``."""
    return f"{TOPIC_PREFIX}{topic.value}"


def parse_topic(value: object) -> Topic | None:
    """A topic from untrusted input (a button's argument), or None."""
    try:
        return Topic(str(value).strip().lower())
    except ValueError:
        return None


# --- rendering ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    lang: Lang
    now: datetime
    timeline: Timeline
    facts: Mapping[str, str]
    channel: Channel = Channel.CHAT

    def text(self, key: str, **extra: object) -> str:
        """The text ``key``; on the web page, its ``web.`` wording when it has one (a
        sentence that speaks of the chat's buttons says something else there)."""
        name = f"faq.{key}"
        if self.channel is Channel.WEB and has_text(self.lang, f"faq.web.{key}"):
            name = f"faq.web.{key}"
        return t(self.lang, name, **{**self.facts, **extra})


def _facts(lang: Lang, tl: Timeline) -> dict[str, str]:
    return {
        "agency": tl.agency.name,
        "old": tl.agency.old_system,
        "new": tl.agency.new_system,
        "agency_site": tl.agency.agency_site,
        "new_site": tl.agency.new_system_site,
        "org_key": tl.validation.organisation_key,
        "last_open_day": spell_date(lang, tl.closure.last_open_day),
        "last_closed_day": spell_date(lang, tl.closure.last_closed_day),
        "new_only_day": spell_date(lang, tl.new_system_only.from_day),
        "pending_deadline": spell_date(lang, tl.pending_transactions.deadline),
        "training_first": spell_date(lang, tl.training.first_day),
        "training_last": spell_date(lang, tl.training.last_day),
        "registration_site": tl.training.registration_site,
        "gov_deadline": spell_date(lang, tl.government_directive.deadline),
        "categories": ", ".join(
            t(lang, f"faq.category.{name}") for name in tl.validation.categories
        ),
    }


def _plural(ctx: _Context, group: str, days: int) -> str:
    form = "zero" if days == 0 else "one" if days == 1 else "other"
    return ctx.text(f"{group}.{form}", days=days)


def _countdown(ctx: _Context, days: int) -> str:
    """``in 3 days`` — for something that starts on a day still ahead (days >= 0)."""
    return _plural(ctx, "countdown", max(days, 0))


def _days_to_closure(ctx: _Context) -> int:
    return days_until(ctx.timeline.closure.last_open_day, ctx.now)


def _more_button(ctx: _Context, topic: Topic) -> Button:
    return Button(ctx.text("more_button"), MORE, {Entity.FAQ_TOPIC: topic.value})


def _topics_button(ctx: _Context) -> Button:
    return Button(ctx.text("topics_button"), MENU)


def _with_more(ctx: _Context, topic: Topic, text: str, more: str, *extra: Button) -> Answer:
    return Answer(text=text, more=more, buttons=(*extra, _more_button(ctx, topic)))


def _closure(ctx: _Context) -> Answer:
    now_phase = phase(ctx.timeline, ctx.now)
    if now_phase is Phase.BEFORE:
        text = ctx.text("closure.before", countdown=_countdown(ctx, _days_to_closure(ctx)))
    else:
        text = ctx.text(f"closure.{now_phase.value}")
    more = ctx.text("closure.more_after" if now_phase is Phase.AFTER else "closure.more_open")
    return _with_more(ctx, Topic.CLOSURE, text, more)


def _login(ctx: _Context) -> Answer:
    after = phase(ctx.timeline, ctx.now) is Phase.AFTER
    text = ctx.text("login.after" if after else "login.before")
    return _with_more(ctx, Topic.LOGIN, text, ctx.text("login.more"))


def _pending(ctx: _Context) -> Answer:
    status = deadline_status(ctx.timeline.pending_transactions.deadline, ctx.now)
    if not status.passed:
        text = ctx.text("pending.upcoming", left=_plural(ctx, "left", status.days_left))
    else:
        text = ctx.text(f"pending.passed_{phase(ctx.timeline, ctx.now).value}")
    return _with_more(ctx, Topic.PENDING, text, ctx.text("pending.more"))


def _when(ctx: _Context, topic: Topic) -> str:
    """Before the closure: do it in time; afterwards: do it now."""
    if phase(ctx.timeline, ctx.now) is Phase.BEFORE:
        return ctx.text(f"{topic}.when_before", countdown=_countdown(ctx, _days_to_closure(ctx)))
    return ctx.text(f"{topic}.when_late")


def _validate(ctx: _Context) -> Answer:
    text = ctx.text("validate.text", when=_when(ctx, Topic.VALIDATE))
    return _with_more(ctx, Topic.VALIDATE, text, ctx.text("validate.more"))


def _link_org(ctx: _Context) -> Answer:
    text = ctx.text("link_org.text", when=_when(ctx, Topic.LINK_ORG))
    return _with_more(ctx, Topic.LINK_ORG, text, ctx.text("link_org.more"))


def _training(ctx: _Context) -> Answer:
    state = training_state(ctx.timeline, ctx.now)
    countdown = _countdown(ctx, days_until(ctx.timeline.training.first_day, ctx.now))
    text = ctx.text(f"training.{state.value}", countdown=countdown)
    register = Button(ctx.text("register_button"), TRAINING_REGISTER)
    return _with_more(ctx, Topic.TRAINING, text, ctx.text("training.more"), register)


def _why(ctx: _Context) -> Answer:
    status = deadline_status(ctx.timeline.government_directive.deadline, ctx.now)
    if status.passed:
        return Answer(ctx.text("why.passed"))
    return Answer(ctx.text("why.upcoming", left=_plural(ctx, "left", status.days_left)))


def _simple(topic: Topic, *, topics_button: bool = False) -> Callable[[_Context], Answer]:
    def render(ctx: _Context) -> Answer:
        buttons = (_topics_button(ctx),) if topics_button else ()
        return Answer(ctx.text(f"{topic.value}.text"), buttons=buttons)

    return render


def _out_of_scope(ctx: _Context) -> Answer:
    """Honest: not something this assistant does, where to go instead, and a person."""
    person = Button(ctx.text("human_button"), HUMAN, GAVE_UP)
    return Answer(ctx.text("out_of_scope.text"), buttons=(person, _topics_button(ctx)))


_RENDERERS: dict[Topic, Callable[[_Context], Answer]] = {
    Topic.CLOSURE: _closure,
    Topic.LOGIN: _login,
    Topic.PENDING: _pending,
    Topic.VALIDATE: _validate,
    Topic.LINK_ORG: _link_org,
    Topic.TRAINING: _training,
    Topic.WHY: _why,
    Topic.CONTACT: _simple(Topic.CONTACT, topics_button=True),
    Topic.GREET: _simple(Topic.GREET, topics_button=True),
    Topic.THANKS: _simple(Topic.THANKS),
    Topic.GOODBYE: _simple(Topic.GOODBYE),
    Topic.ACKNOWLEDGE: _simple(Topic.ACKNOWLEDGE),
    Topic.CAPABILITIES: _simple(Topic.CAPABILITIES, topics_button=True),
    Topic.OUT_OF_SCOPE: _out_of_scope,
    Topic.HANDOFF: _simple(Topic.HANDOFF, topics_button=True),
}


def _context(
    lang: Lang, now: datetime, timeline: Timeline | None, channel: Channel = Channel.CHAT
) -> _Context:
    tl = timeline or default_timeline()
    return _Context(lang=lang, now=now, timeline=tl, facts=_facts(lang, tl), channel=channel)


def answer(
    topic: Topic,
    lang: Lang,
    now: datetime,
    timeline: Timeline | None = None,
    channel: Channel = Channel.CHAT,
) -> Answer:
    """The short answer to ``topic`` at ``now``, with its "more" text and buttons, worded
    for ``channel`` (the same facts in the chat and on the FAQ page)."""
    return _RENDERERS[topic](_context(lang, now, timeline, channel))


def more(
    topic: Topic,
    lang: Lang,
    now: datetime,
    timeline: Timeline | None = None,
    page_url: str | None = None,
) -> Answer:
    """The longer part of a topic's answer (its short answer when it has nothing more).

    With ``page_url`` (the FAQ page's address), a menu topic's answer ends with a link to
    its section of the page in the same language.
    """
    short = answer(topic, lang, now, timeline)
    buttons = tuple(b for b in short.buttons if b.intent != MORE)
    text = short.more or short.text
    if page_url is not None and topic in ANCHORS:
        url = f"{page_url.rstrip('/')}/{lang}/#{anchor(topic)}"
        # One line break: Rasa's channels send each blank-line paragraph as a message.
        text = f"{text}\n{t(lang, 'faq.read_more', url=url)}"
    return Answer(text=text, buttons=buttons)


def menu(lang: Lang, timeline: Timeline | None = None) -> Answer:
    """The topics of ``/faq`` as buttons."""
    ctx = _context(lang, datetime.min, timeline)  # titles do not depend on the date
    buttons = tuple(
        Button(ctx.text(f"title.{topic}"), topic_command(topic)) for topic in MENU_TOPICS
    )
    return Answer(ctx.text("menu.intro"), buttons=buttons)


def likely_topics(
    ranking: Sequence[tuple[Topic, float]], limit: int = 3, floor: float = 0.05
) -> list[Topic]:
    """The menu topics worth offering after a miss: best first, distinct, above ``floor``."""
    chosen: list[Topic] = []
    for topic, confidence in sorted(ranking, key=lambda item: item[1], reverse=True):
        if topic in MENU_TOPICS and topic not in chosen and confidence >= floor:
            chosen.append(topic)
        if len(chosen) == limit:
            break
    return chosen


def clarify(lang: Lang, candidates: Sequence[Topic], repeated: bool) -> Answer:
    """What to say when the message was not understood.

    A first miss offers the likeliest topics; a second miss in a row offers a person.
    """
    ctx = _context(lang, datetime.min, None)
    if repeated:
        return Answer(
            ctx.text("clarify.again"),
            buttons=(Button(ctx.text("human_button"), HUMAN, AFTER_MISSES), _topics_button(ctx)),
        )
    if not candidates:
        return Answer(ctx.text("clarify.none"), buttons=(_topics_button(ctx),))
    buttons = tuple(Button(ctx.text(f"title.{c}"), topic_command(c)) for c in candidates)
    return Answer(
        ctx.text("clarify.ask"), buttons=(*buttons, Button(ctx.text("clarify.other_button"), MENU))
    )
