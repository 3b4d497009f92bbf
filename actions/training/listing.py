"""Training actions: the upcoming sessions, read from the database."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker import reply_language
from actions.runtime import resources
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.training.queries import upcoming_sessions


class ActionListTrainings(Action):
    def name(self) -> str:
        return "action_list_trainings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        lang = reply_language(tracker)
        res = resources()
        found = await upcoming_sessions(res.sessions, res.clock.now())
        if not found:
            dispatcher.utter_message(text=t(lang, "training.none_upcoming"))
            return []
        lines = [t(lang, "training.upcoming_header")]
        lines += [
            t(
                lang,
                "training.session_line",
                title=s.title,
                when=spell_datetime(lang, s.starts_at),
                language=t(lang, f"training.language_{s.language.value}"),
            )
            for s in found
        ]
        dispatcher.utter_message(text="\n".join(lines))
        return []
