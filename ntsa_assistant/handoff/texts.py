"""Everything the handoff says: to the person in their language, and to the agents' desk
in English. Texts are in ``locales/<lang>/handoff.toml``; the gateway only sends what these
functions return. Buttons are ``(title, key)`` pairs: the gateway turns the key into its
own callback data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ntsa_assistant.core.i18n import Lang, spell_datetime, t
from ntsa_assistant.core.masking import scrub
from ntsa_assistant.core.telegram_text import clip, utf16_len
from ntsa_assistant.faq.answers import MENU_TOPICS, Topic, menu, topic_command
from ntsa_assistant.faq.timeline import default_timeline

Buttons = tuple[tuple[str, str], ...]

OTHER = "other"  # the key of "Something else" among the topics
# The menu's topics an agent can act on: "More help" points elsewhere, and "Why the move"
# is a government policy no agent can change.
AGENT_TOPICS: tuple[Topic, ...] = tuple(
    topic for topic in MENU_TOPICS if topic not in (Topic.CONTACT, Topic.WHY)
)
RATINGS = range(1, 6)

WAITING, CLAIMED, CLOSED = "waiting", "claimed", "closed"
DESK_STATES = (WAITING, CLAIMED, CLOSED)
TOPIC_NAME_LIMIT = 128  # Telegram's longest forum topic name
BLOCK_CONFIRM_MINUTES = 2
_DESK: Lang = "en"


def _text(lang: Lang, key: str, **params: object) -> str:
    return t(lang, f"handoff.{key}", **params)


def _desk(key: str, **params: object) -> str:
    return t(_DESK, f"handoff.desk.{key}", **params)


# --- asking what it is about --------------------------------------------------------------


def _menu_titles(lang: Lang) -> Mapping[str, str]:
    """The FAQ menu's own title of each topic, by topic value (one wording, one place)."""
    titles = {button.intent: button.title for button in menu(lang).buttons}
    return {topic.value: titles[topic_command(topic)] for topic in MENU_TOPICS}


def topic_title(lang: Lang, topic: str) -> str:
    """A topic key's title as the menu shows it; "Something else" for any other key."""
    return _menu_titles(lang).get(topic) or _text(lang, "topic_other")


def topic_question(lang: Lang) -> tuple[str, Buttons]:
    """What is it about? One button per topic an agent can act on, and "Something else"."""
    titles = _menu_titles(lang)
    buttons = tuple((titles[topic.value], topic.value) for topic in AGENT_TOPICS)
    return _text(lang, "topic_question"), (*buttons, (_text(lang, "topic_other"), OTHER))


def choose_topic_first(lang: Lang) -> str:
    return _text(lang, "choose_topic_first")


# --- in the queue ---------------------------------------------------------------------------


def leave_button(lang: Lang) -> str:
    return _text(lang, "leave_button")


def _estimate(lang: Lang, minutes: int | None) -> str:
    if minutes is None:
        return _text(lang, "queue.no_estimate")
    if minutes <= 1:
        return _text(lang, "queue.estimate_one")
    if minutes < 60:
        return _text(lang, "queue.estimate_minutes", minutes=minutes)
    hours = round(minutes / 60)
    if hours == 1:
        return _text(lang, "queue.estimate_hour")
    return _text(lang, "queue.estimate_hours", hours=hours)


def queued(
    lang: Lang,
    *,
    position: int,
    estimate_minutes: int | None,
    open_now: bool,
    next_opening: datetime | None,
    holiday: str | None,
) -> str:
    """The person's place in the queue, the wait, that their messages are kept, how to leave.

    When the desk is closed the wait is replaced by when agents are back (and, on a public
    holiday, which one: ``holiday`` is its name in ``lang``, see ``WorkingHours.holiday``).
    """
    if position <= 1:
        place = _text(lang, "queue.position_first")
    else:
        place = _text(lang, "queue.position", position=position)
    leave = _text(lang, "queue.leave", button=leave_button(lang))
    if open_now:
        sentences = [place, _estimate(lang, estimate_minutes), _text(lang, "queue.kept")]
    else:
        away = (
            _text(lang, "queue.holiday", holiday=holiday)
            if holiday
            else _text(lang, "queue.closed")
        )
        back = (
            _text(lang, "queue.back_at", when=spell_datetime(lang, next_opening))
            if next_opening is not None
            else _text(lang, "queue.back_soon")
        )
        sentences = [away, back, place, _text(lang, "queue.kept_closed")]
    return " ".join(sentences) + "\n" + leave


def left_queue(lang: Lang) -> str:
    return _text(lang, "left_queue")


# --- with an agent, and after --------------------------------------------------------------


def claimed(lang: Lang, agent_name: str | None) -> str:
    """An agent is now with the person; named only when the agent chose to show a name."""
    name = agent_name.strip() if agent_name else ""
    return _text(lang, "claimed_named", agent=name) if name else _text(lang, "claimed")


def with_agent_hint(lang: Lang) -> str:
    """A button from before the handoff was tapped while an agent has the conversation."""
    return _text(lang, "with_agent_hint")


def back_to_bot(lang: Lang) -> str:
    return _text(lang, "back_to_bot")


def rating_question(lang: Lang) -> tuple[str, Buttons]:
    """How did we do? Five buttons, one star to five, keyed "1" to "5"."""
    return _text(lang, "rating.question"), tuple(("⭐" * n, str(n)) for n in RATINGS)


def rating_thanks(lang: Lang, rating: int) -> str:
    if rating not in RATINGS:
        raise ValueError(f"a rating is 1 to 5, not {rating}")
    return _text(lang, "rating.thanks_good" if rating >= 4 else "rating.thanks_poor")


# --- when no agent can be reached ----------------------------------------------------------


def blocked(lang: Lang, until: datetime) -> str:
    """Agents no longer take this chat's messages for a while; the assistant still answers."""
    return _text(lang, "blocked", until=spell_datetime(lang, until))


def no_desk(lang: Lang) -> str:
    """No agents' desk is set up: where human help is (the same facts as the FAQ's)."""
    agency = default_timeline().agency
    return _text(
        lang,
        "no_desk",
        agency=agency.name,
        agency_site=agency.agency_site,
        new=agency.new_system,
        new_site=agency.new_system_site,
    )


def flow_stopped(lang: Lang) -> str:
    """A form was running when the person asked for a person: it stops (and its keyboard
    goes), so that it does not come back by surprise after the handoff."""
    return _text(lang, "flow_stopped")


def desk_unavailable(lang: Lang) -> str:
    return _text(lang, "desk_unavailable")


# --- the agents' desk (English) ------------------------------------------------------------


def masked(text: str) -> str:
    """Free text the person wrote, masked and on one line, for the agents' eyes."""
    return " ".join(scrub(text).split())


def desk_topic_name(label: str, lang: str, state: str, number: int) -> str:
    """The forum topic's name, e.g. ``⏳ Jane #1042 · SW``: the label is masked (a name
    field can hold a phone number) and shortened to fit Telegram's 128 characters."""
    if state not in DESK_STATES:
        raise ValueError(f"a desk state is one of {DESK_STATES}, not {state!r}")
    params: dict[str, object] = {
        "icon": _desk(f"state_{state}"),
        "number": number,
        "language": lang.upper(),
    }
    room = TOPIC_NAME_LIMIT - utf16_len(_desk("topic_name", label="", **params))
    short = clip(masked(label) or "?", max(room, 1))
    return clip(_desk("topic_name", label=short, **params), TOPIC_NAME_LIMIT)


def desk_claimed(agent: str) -> str:
    return _desk("claimed", agent=agent)


def desk_closed(by: str, reason: str) -> str:
    return _desk("closed", by=by, reason=reason)


def desk_cancelled() -> str:
    """The person left the queue before an agent took the conversation."""
    return _desk("cancelled")


def desk_person_left() -> str:
    """The person ended a conversation an agent had taken."""
    return _desk("person_left")


def desk_not_delivered() -> str:
    return _desk("not_delivered")


def desk_escalation(minutes: int) -> str:
    return _desk("escalation", minutes=minutes)


def desk_block_confirm(hours: int, minutes: int = BLOCK_CONFIRM_MINUTES) -> str:
    return _desk("block_confirm", hours=hours, minutes=minutes)


def desk_blocked(until: datetime) -> str:
    return _desk("blocked", until=spell_datetime(_DESK, until))


def desk_help() -> str:
    return _desk("help")


def desk_no_handoff() -> str:
    return _desk("no_handoff")


def desk_merged_header(count: int) -> str:
    """The first line of several messages relayed as one."""
    return _desk("merged_one") if count == 1 else _desk("merged_many", count=count)


def desk_rating(rating: int) -> str:
    return _desk("rating", rating=rating)
