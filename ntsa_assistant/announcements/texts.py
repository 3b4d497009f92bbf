"""Everything the announcements feature says, in the reader's language (texts in
``locales/<lang>/announcements.toml``): the answers to subscribing and unsubscribing, and
the announcements of the timeline, rendered when they are sent so that they count the days
left from that moment."""

from __future__ import annotations

import enum
from datetime import datetime

from ntsa_assistant.announcements.schedule import TimelineTopic, find, upcoming
from ntsa_assistant.core.i18n import Lang, spell_date, t
from ntsa_assistant.faq.timeline import Timeline, days_until, local_day


class SubscribeOutcome(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    ALREADY = "already"  # subscribed before, in the same language
    LANGUAGE_CHANGED = "language_changed"  # subscribed before, in the other language


def _facts(lang: Lang, timeline: Timeline) -> dict[str, str]:
    return {
        "agency": timeline.agency.name,
        "old": timeline.agency.old_system,
        "new": timeline.agency.new_system,
        "new_site": timeline.agency.new_system_site,
        "last_closed_day": spell_date(lang, timeline.closure.last_closed_day),
    }


def _text(lang: Lang, key: str, timeline: Timeline, **extra: object) -> str:
    return t(lang, f"announcements.{key}", **{**_facts(lang, timeline), **extra})


def _plural(lang: Lang, group: str, days: int) -> str:
    form = "zero" if days == 0 else "one" if days == 1 else "other"
    return t(lang, f"announcements.{group}.{form}", days=days)


def subscribed(lang: Lang, outcome: SubscribeOutcome, timeline: Timeline, now: datetime) -> str:
    """The answer to "notify me": what is still to come, or that they were on the list."""
    if outcome is SubscribeOutcome.ALREADY:
        return _text(lang, "already", timeline)
    if outcome is SubscribeOutcome.LANGUAGE_CHANGED:
        return _text(lang, "language_changed", timeline)
    ahead = upcoming(timeline, now)
    if not ahead:
        return _text(lang, "subscribed_nothing_ahead", timeline)
    items = "\n".join(
        _text(lang, f"item.{item.topic.value}", timeline, day=spell_date(lang, item.day))
        for item in ahead
    )
    return _text(lang, "subscribed", timeline, items=items)


def unsubscribed(lang: Lang, removed: bool, timeline: Timeline) -> str:
    return _text(lang, "unsubscribed" if removed else "not_subscribed", timeline)


def only_telegram(lang: Lang, timeline: Timeline) -> str:
    return _text(lang, "only_telegram", timeline)


def announcement(topic: TimelineTopic, lang: Lang, timeline: Timeline, now: datetime) -> str:
    """The announcement of ``topic`` as sent at ``now``, with the line on how to stop them."""
    item = find(timeline, topic.value)
    if item is None:  # pragma: no cover - every topic is scheduled
        raise ValueError(f"no announcement of {topic}")
    day = spell_date(lang, item.day)
    days = days_until(item.day, now)
    if topic is TimelineTopic.PENDING_DEADLINE:
        body = _text(
            lang, "pending_deadline.text", timeline, day=day, left=_plural(lang, "left", days)
        )
    elif topic is TimelineTopic.CLOSURE:
        countdown = _plural(lang, "countdown", max(days, 0))
        body = _text(lang, "closure.text", timeline, day=day, countdown=countdown)
    else:
        form = "today" if local_day(now) == item.day else "since"
        body = _text(lang, f"new_system_only.{form}", timeline, day=day)
    return f"{body}\n\n{_text(lang, 'footer', timeline)}"
