"""FAQ actions: answer a topic, show the topics, and recover from a message not understood."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.language import remember_detected
from actions.replies import send
from actions.runtime import resources
from actions.tracker import reply_language
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.protocol import Entity, Intent

FALLBACK_INTENT = "nlu_fallback"
MORE_INTENT = Intent.FAQ_MORE
TOPIC_ENTITY = Entity.FAQ_TOPIC

# Intent name -> topic. Menu topics are `faq_<topic>`; the others are listed by name
# (human_handoff is not one: actions.handoff answers it).
TOPIC_BY_INTENT: dict[str, Topic] = {
    **{faq.topic_command(topic): topic for topic in faq.MENU_TOPICS},
    "greet": Topic.GREET,
    "thank": Topic.THANKS,
    "goodbye": Topic.GOODBYE,
    "acknowledge": Topic.ACKNOWLEDGE,
    "bot_capabilities": Topic.CAPABILITIES,
    "out_of_scope": Topic.OUT_OF_SCOPE,
}


# Rasa's multi-intent labels join intents with this (nlu/config.yml, intent_split_symbol).
INTENT_SPLIT = "+"


def topics_of(intent: str | None) -> list[Topic]:
    """The topics one message asked about: ``faq_closure+faq_training`` → both, in order;
    an intent that is no topic (or a label with one part that is none) → out of scope."""
    parts = (intent or "").split(INTENT_SPLIT)
    topics = [TOPIC_BY_INTENT.get(part) for part in parts]
    if not topics or any(topic is None for topic in topics):
        return [Topic.OUT_OF_SCOPE]
    return list(dict.fromkeys(topic for topic in topics if topic is not None))


def _intent(message: dict[str, Any]) -> str | None:
    return (message.get("intent") or {}).get("name")


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, now = reply_language(tracker), resources().clock.now()
        intent = _intent(tracker.latest_message)
        if intent == MORE_INTENT:
            entity = next(tracker.get_latest_entity_values(TOPIC_ENTITY), None)
            topic = faq.parse_topic(entity) if entity else last_topic(tracker)
            page = resources().settings.faq_page_url
            answer = faq.more(topic, lang, now, page_url=page) if topic else faq.menu(lang)
        else:
            for topic in topics_of(intent)[:-1]:  # two questions in one message: each answered
                send(dispatcher, faq.answer(topic, lang, now))
            answer = faq.answer(topics_of(intent)[-1], lang, now)
        send(dispatcher, answer)
        return remember_detected(tracker)


class ActionShowFaqMenu(Action):
    def name(self) -> str:
        return "action_show_faq_menu"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        send(dispatcher, faq.menu(reply_language(tracker)))
        return remember_detected(tracker)


def last_topic(tracker: Tracker) -> Topic | None:
    """The menu topic the user asked about last (for a typed "tell me more")."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            topic = TOPIC_BY_INTENT.get(_intent(event.get("parse_data") or {}) or "")
            if topic in faq.MENU_TOPICS:
                return topic
    return None


def missed_before(tracker: Tracker) -> bool:
    """Whether the user's previous message was not understood either."""
    user_turns = [e for e in tracker.events if e.get("event") == "user"]
    return len(user_turns) >= 2 and _intent(user_turns[-2].get("parse_data") or {}) == (
        FALLBACK_INTENT
    )


class ActionClarify(Action):
    """After ``nlu_fallback``: the likeliest topics as buttons; a second miss offers a person."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        ranking = [
            (TOPIC_BY_INTENT[r["name"]], float(r.get("confidence") or 0.0))
            for r in tracker.latest_message.get("intent_ranking") or []
            if r.get("name") in TOPIC_BY_INTENT
        ]
        candidates = faq.likely_topics(ranking)
        send(dispatcher, faq.clarify(reply_language(tracker), candidates, missed_before(tracker)))
        return remember_detected(tracker)
