"""Drives nlu/ntsa_rasa's encrypted tracker store directly, inside Rasa's environment.

Run by tests/e2e/test_durable.py as ``.venv-rasa/bin/python tests/support/rasa_tracker_probe.py
URL`` (with ``nlu/`` on PYTHONPATH); prints one JSON object of what it saw. Rasa cannot be
imported in the app's environment, hence a separate process rather than a fixture.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ntsa_rasa.tracker_store import SECRET_ENV, EncryptedSQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

DOMAIN = Path(__file__).resolve().parents[2] / "nlu" / "domain"
ID_NUMBER = "21000102"
PHONE = "+254700000102"
FIRST_SECRET = "first-secret-" + "a" * 40
SECOND_SECRET = "second-secret-" + "b" * 40


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.levelname}: {record.getMessage()}")


def store(url: str, secret: str, domain: Domain) -> EncryptedSQLTrackerStore:
    os.environ[SECRET_ENV] = secret
    return EncryptedSQLTrackerStore(domain=domain, host=url)


def turn(text: str, intent: str, timestamp: float) -> list[Any]:
    return [
        UserUttered(text, intent={"name": intent, "confidence": 1.0}, timestamp=timestamp),
        SlotSet("requested_slot", "id_number", timestamp=timestamp + 0.1),
        ActionExecuted("action_listen", timestamp=timestamp + 0.2),
    ]


def new_tracker(sender: str, domain: Domain, start: float) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, domain.slots)
    tracker.update(ActionExecuted("action_session_start", timestamp=start))
    tracker.update(SessionStarted(timestamp=start + 0.01))
    tracker.update(ActionExecuted("action_listen", timestamp=start + 0.02))
    return tracker


def texts(tracker: DialogueStateTracker | None) -> list[str]:
    if tracker is None:
        return []
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def raw_rows(store_: EncryptedSQLTrackerStore, sender: str) -> list[dict[str, Any]]:
    event = store_.SQLEvent
    with store_.session_scope() as session:
        rows = session.query(event).filter(event.sender_id == sender).order_by(event.id)
        return [
            {
                "type_name": r.type_name,
                "intent_name": r.intent_name,
                "action_name": r.action_name,
                "data": r.data,
            }
            for r in rows
        ]


async def probe(url: str) -> dict[str, Any]:
    logs = Collect()
    logging.getLogger("ntsa_rasa").addHandler(logs)
    domain = Domain.load(DOMAIN)
    seen: dict[str, Any] = {}

    first = store(url, FIRST_SECRET, domain)
    tracker = new_tracker("chat-1", domain, 1000.0)
    for event in turn(f"my id is {ID_NUMBER}", "status_check", 1001.0):
        tracker.update(event)
    await first.save(tracker)
    for event in turn(f"call me on {PHONE}", "made_up_intent_" + ID_NUMBER, 1002.0):
        tracker.update(event)
    await first.save(tracker)
    seen["first_key_reads"] = texts(await first.retrieve("chat-1"))
    seen["rows"] = raw_rows(first, "chat-1")

    second = store(url, SECOND_SECRET, domain)
    seen["second_key_reads"] = texts(await second.retrieve("chat-1"))
    fresh = new_tracker("chat-1", domain, 2000.0)
    for event in turn("hello again", "greet", 2001.0):
        fresh.update(event)
    await second.save(fresh)
    for event in turn("and once more", "greet", 2002.0):
        fresh.update(event)
    await second.save(fresh)
    seen["second_key_reads_after_save"] = texts(await second.retrieve("chat-1"))
    seen["second_key_event_count"] = len((await second.retrieve("chat-1")).events)
    seen["second_key_tracker_event_count"] = len(fresh.events)
    seen["first_key_still_reads"] = texts(await first.retrieve("chat-1"))
    seen["warnings"] = list(logs.records)

    # An altered row is skipped, not trusted.
    event = second.SQLEvent
    with second.session_scope() as session:
        row = (
            session.query(event)
            .filter(event.sender_id == "chat-1", event.type_name == "user")
            .order_by(event.id.desc())
            .first()
        )
        row.data = row.data[:-8] + ("A" * 8 if not row.data.endswith("A" * 8) else "B" * 8)
        session.commit()
    seen["after_tamper_reads"] = texts(await second.retrieve("chat-1"))
    seen["log"] = list(logs.records)
    second.check_connection()
    seen["postgres_schema"] = (
        sa.inspect(second.engine).get_table_names(schema="rasa")
        if second.engine.dialect.name == "postgresql"
        else None
    )
    return seen


def main() -> None:
    print(json.dumps(asyncio.run(probe(sys.argv[1]))))


if __name__ == "__main__":
    main()
