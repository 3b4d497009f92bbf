"""The upcoming training sessions, for everyone, as one message."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import resources
from actions.tracker import reply_language
from ntsa_assistant.training import queries, texts


class ActionListTrainings(Action):
    def name(self) -> str:
        return "action_list_trainings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        res = resources()
        offers = await queries.offers(res.sessions, res.clock.now(), audience=None, limit=6)
        dispatcher.utter_message(text=texts.listing(reply_language(tracker), offers))
        return []
