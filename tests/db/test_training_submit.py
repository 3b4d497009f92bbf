"""The action that writes a registration checks every slot again: a tracker made by hand
(or a slot set by any other way than the form) never stores what the form would refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions import runtime
from actions.training import slots as s
from actions.training.form import ActionTrainingSubmit
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import Audience, Registration
from tests.support.training import STARTS, add_session


@pytest.fixture
async def actions_on(database_url: str, session_factory: SessionFactory) -> AsyncIterator[str]:
    """The action server's resources on the test database, with one upcoming session."""
    code = await add_session(session_factory, "TRN-SUB-01", audience=Audience.MOTORISTS)
    now = STARTS.replace(day=10).isoformat()
    await runtime.start(Settings(database_url=database_url, assistant_now=now, _env_file=None))
    yield code
    await runtime.stop()


def submitted(code: str, **slots: Any) -> Tracker:
    filled = {
        "language": "en",
        s.AUDIENCE: "motorists",
        s.SESSION: code,
        s.NAME: "Wanjiru Kamau",
        s.PHONE: "+254712345678",
        s.EMAIL: s.SKIPPED,
        s.CONFIRMED: s.YES,
        **slots,
    }
    return Tracker(
        sender_id="700000001",
        slots=filled,
        latest_message={"text": "/training_confirm", "intent": {"name": "training_confirm"}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


async def registrations(factory: SessionFactory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(Registration)) or 0)


@pytest.mark.parametrize(
    ("slots", "reason"),
    [
        ({s.NAME: "x" * 330}, "name_too_long"),
        ({s.PHONE: "not a phone"}, "phone_invalid"),
        ({s.EMAIL: "not-an-email"}, "email_invalid"),
        ({s.AUDIENCE: "motor_dealers", s.KRA_PIN: None}, "kra_pin_invalid"),
    ],
)
async def test_submit_refuses_what_the_form_would_refuse(
    actions_on: str, session_factory: SessionFactory, slots: dict[str, Any], reason: str
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionTrainingSubmit().run(dispatcher, submitted(actions_on, **slots), {})
    assert [m["text"] for m in dispatcher.messages] == [t("en", f"training.{reason}")]
    assert {e["name"] for e in events} == set(s.FORM_SLOTS)  # the form is reset
    assert await registrations(session_factory) == 0


async def test_submit_with_good_slots_registers(
    actions_on: str, session_factory: SessionFactory
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionTrainingSubmit().run(dispatcher, submitted(actions_on), {})
    assert await registrations(session_factory) == 1
    assert dispatcher.messages[-1]["custom"]["type"] == "document"
