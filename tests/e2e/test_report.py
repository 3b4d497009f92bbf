"""The operators' report end to end: Rasa's event broker (``nlu/ntsa_rasa/event_broker.py``)
and the app write one record, and a few real conversations through the emulated Telegram
are counted right.

The broker runs in Rasa's environment, which cannot import the app: the first tests drive
it there (``.venv-rasa/bin/python``) and compare with the app's side of the same rules.
The last one starts a stack of its own (database, action server, Rasa with the broker,
gateway, Telegram emulator with a desk group), so that no other module's conversations
land in its record.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.language import choose_language
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.handoff import desk, texts
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.protocol import HandoffReason, HandoffRequest
from ntsa_assistant.reporting import unanswered
from ntsa_assistant.reporting.activity import chat_key, minimise, secret_of
from ntsa_assistant.reporting.metrics import Period
from ntsa_assistant.reporting.report import load_events, load_report
from ntsa_assistant.storage.engine import create_engine, create_session_factory
from ntsa_assistant.storage.models import ActivityEvent, EventKind
from ntsa_assistant.storage.schema import upgrade_schema
from tests.support.databases import fresh_postgres_database, postgres_server_url
from tests.support.desk import DESK_CHAT_ID, desk_env, desk_thread, topic_messages, wait_until
from tests.support.phrases import GIBBERISH
from tests.support.processes import (
    BOT_TOKEN,
    LOG_DIR,
    RunningService,
    free_port,
    rasa_api_params,
)
from tests.support.telegram_emulator import TelegramEmulator
from tests.unit.test_report_activity import MINIMISED
from tools.stack import MODEL, ROOT, actions_service, gateway_service, rasa_service

pytestmark = pytest.mark.e2e

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
BROKER_LINES = "event_broker:\n  type: ntsa_rasa.event_broker.ActivityEventBroker\n"
WAIT = 40.0

# Runs in Rasa's environment: the broker's rules on the given inputs, its turns from the
# given events, and (with a database) the rows it writes there.
PROBE = """
import asyncio, json, sys
from ntsa_rasa import event_broker as b

job = json.load(sys.stdin)
secret = bytes.fromhex(job["secret"])
builder = b.TurnBuilder()
rows = [row for event in job["events"] for row in builder.feed(event)] + builder.flush()
for row in rows:
    row["at"] = row["at"].isoformat()
out = {
    "keys": [b.chat_key(secret, chat) for chat in job["chats"]],
    "minimised": [b.minimise(text) for text in job["texts"]],
    "rows": rows,
    "url": b.database_url(job["url"]) if job["url"] else None,
}
if job["url"]:
    broker = b.ActivityEventBroker(url=job["url"])
    for event in job["events"]:
        broker.publish(event)
    asyncio.run(broker.close())
    out["written"] = broker.written
print(json.dumps(out))
"""


def probe(
    *,
    events: list[dict[str, Any]] | None = None,
    chats: list[str] | None = None,
    texts: list[str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.fail(f"no Rasa environment at {RASA_PYTHON}: run the tests with 'make test'")
    job = {
        "secret": bytes(range(32)).hex(),
        "events": events or [],
        "chats": chats or [],
        "texts": texts or [],
        "url": url,
    }
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", PROBE],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT / "nlu")},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def events_of_two_turns(start: float, sender: str = "700000001") -> list[dict[str, Any]]:
    """A FAQ answer (with the language slot set) and a miss answered by a clarification."""

    def event(kind: str, offset: float, **fields: Any) -> dict[str, Any]:
        return {"sender_id": sender, "event": kind, "timestamp": start + offset, **fields}

    metadata = {"verified_phone": "+254700000102", "user_language": "en-GB"}
    return [
        event("action", 0.0, name="action_session_start"),
        event("session_started", 0.001),
        event("action", 0.002, name="action_listen"),
        event(
            "user",
            1.0,
            text="When does TIMS close?",
            parse_data={"intent": {"name": "faq_closure", "confidence": 0.9712345}},
            metadata=metadata,
        ),
        event("action", 1.01, name="action_extract_slots"),
        event("action", 1.05, name="action_answer_faq"),
        event("bot", 1.06, text="TIMS closes on 29 December."),
        event("slot", 1.061, name="language", value="sw"),
        event("action", 1.062, name="action_listen"),
        event(
            "user",
            2.0,
            text="my ID 21000102 phone 0712 345 678 blorp",
            parse_data={"intent": {"name": "nlu_fallback", "confidence": 0.3}},
            metadata=metadata,
        ),
        event("action", 2.01, name="action_extract_slots"),
        event("action", 2.2, name="action_clarify"),
        event("action", 2.25, name="action_listen"),
        event(
            "user",
            3.0,
            text='/human_handoff{"handoff_reason":"misses"}',
            parse_data={"intent": {"name": "human_handoff", "confidence": 1.0}},
        ),
        event("action", 3.1, name="action_default_fallback"),  # no listen: closed at shutdown
    ]


def test_the_broker_and_the_app_share_the_key_and_the_text_rule() -> None:
    chats = [700_000_001, "700000001", "-1001234", "local-42"]
    found = probe(chats=[str(chat) for chat in chats], texts=list(MINIMISED))
    secret = bytes(range(32))
    assert found["keys"] == [chat_key(secret, chat) for chat in chats]
    assert found["minimised"] == [minimise(text) for text in MINIMISED]
    assert found["minimised"] == list(MINIMISED.values())


def test_the_broker_makes_one_row_per_turn_with_nothing_personal() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI).timestamp()
    rows = probe(events=events_of_two_turns(start))["rows"]
    instants = [datetime.fromisoformat(row.pop("at")).timestamp() for row in rows]
    assert instants == [start + 1, start + 2, start + 3]
    assert rows == [
        {
            "sender": "700000001",
            "language": "sw",  # the slot set in the turn
            "intent": "faq_closure",
            "confidence": 0.9712,
            "typed": True,
            "fell_back": False,
            "action": "action_answer_faq",
            "latency_ms": 62,
            "text": None,
        },
        {
            "sender": "700000001",
            "language": "sw",
            "intent": "nlu_fallback",
            "confidence": 0.3,
            "typed": True,
            "fell_back": True,
            "action": "action_clarify",
            "latency_ms": 250,
            "text": "my ID **** phone **** blorp",
        },
        {
            "sender": "700000001",
            "language": "sw",
            "intent": "human_handoff",
            "confidence": 1.0,
            "typed": False,  # a button's payload: never "typed", never its text
            "fell_back": True,  # Rasa's core fallback answered it
            "action": "action_default_fallback",
            "latency_ms": None,  # never listened again: closed when the broker closed
            "text": None,
        },
    ]


def test_an_answer_a_form_took_is_not_a_miss_and_its_text_is_not_kept() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI).timestamp()

    def event(kind: str, offset: float, **fields: Any) -> dict[str, Any]:
        return {"sender_id": "700000002", "event": kind, "timestamp": start + offset, **fields}

    unknown = {"intent": {"name": "nlu_fallback", "confidence": 0.2}}
    events = [
        event("active_loop", 0.5, name="registration_form"),
        event("action", 0.6, name="action_listen"),
        event("user", 1.0, text="Wanjiru Kamau", parse_data=unknown),  # the name asked for
        event("action", 1.1, name="registration_form"),
        event("action", 1.2, name="action_listen"),
        event("active_loop", 1.9, name=None),  # the form is over
        event("user", 2.0, text="blorp glarp", parse_data=unknown),
        event("action", 2.1, name="action_clarify"),
        event("action", 2.2, name="action_listen"),
    ]
    rows = probe(events=events)["rows"]
    assert [(row["intent"], row["fell_back"], row["action"], row["text"]) for row in rows] == [
        ("nlu_fallback", False, "registration_form", None),
        ("nlu_fallback", True, "action_clarify", "blorp glarp"),
    ]


def test_the_broker_reads_the_apps_database_url() -> None:
    urls = {
        "sqlite+aiosqlite:///var/assistant.db": "sqlite:///var/assistant.db",
        "postgresql+asyncpg://u:p@db:5432/a?ssl=require": (
            "postgresql+psycopg2://u:p@db:5432/a?sslmode=require"
        ),
        "postgresql://u@db/a": "postgresql+psycopg2://u@db/a",
    }
    for given, expected in urls.items():
        assert probe_url(given) == expected


def probe_url(url: str) -> str:
    code = f"from ntsa_rasa.event_broker import database_url; print(database_url({url!r}))"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT / "nlu")},
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def app_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        await upgrade_schema(url)
        yield url
        return
    async with fresh_postgres_database(postgres_server_url()) as url:
        await upgrade_schema(url)
        yield url


async def test_the_brokers_rows_are_the_apps_events_under_one_key(app_database: str) -> None:
    engine = create_engine(app_database)
    sessions = create_session_factory(engine)
    try:
        start = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI).timestamp()
        written = await asyncio.to_thread(
            probe, events=events_of_two_turns(start), url=app_database
        )
        assert written["written"] == 3
        # The app records a handoff for the same chat under the key the broker made.
        request = HandoffRequest("en", HandoffReason.MISSES)
        begin = datetime.fromtimestamp(start, NAIROBI)
        await desk.begin(sessions, 700_000_001, request, begin + timedelta(seconds=10))
        events = await load_events(sessions, begin, begin + timedelta(days=1))
        assert [(e.kind, e.intent, e.fell_back, e.text) for e in events] == [
            (EventKind.TURN, "faq_closure", False, None),
            (EventKind.TURN, "nlu_fallback", True, "my ID **** phone **** blorp"),
            (EventKind.TURN, "human_handoff", True, None),
            (EventKind.HANDOFF_OPENED, None, None, None),
        ]
        assert [e.at for e in events[:3]] == [begin + timedelta(seconds=s) for s in (1, 2, 3)]
        async with sessions() as db:
            secret = await secret_of(db, datetime.now(NAIROBI))
        assert {e.chat for e in events} == {chat_key(secret, 700_000_001)}
    finally:
        await engine.dispose()


# --- a few conversations through the whole stack -----------------------------------------------


@dataclass
class Stack:
    database: str
    telegram: Any
    rasa: RunningService


def endpoints_with_broker(folder: Path) -> Path:
    """``nlu/endpoints.yml`` with the activity broker, unless it already names one."""
    text = (ROOT / "nlu" / "endpoints.yml").read_text("utf-8")
    if "event_broker:" not in text:
        text = text.rstrip("\n") + "\n" + BROKER_LINES
    path = folder / "endpoints.yml"
    path.write_text(text, "utf-8")
    return path


@pytest.fixture(scope="module")
def report_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database of this module's own, with the schema and the demo records."""
    path = tmp_path_factory.mktemp("report-stack") / "assistant.db"
    url = f"sqlite+aiosqlite:///{path}"
    cli = ROOT / ".venv" / "bin" / "ntsa-assistant"
    for command in (["migrate"], ["demo"]):
        subprocess.run(
            [str(cli), *command],
            env=os.environ | {"DATABASE_URL": url},
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    return url


@pytest.fixture(scope="module")
async def stack(report_database: str) -> AsyncIterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run the tests with 'make test'")
    database = report_database
    folder = Path(database.split(":///", 1)[1]).parent
    # The desk is open all day, so the wait to an agent counts in full whenever this runs.
    hours = {"SUPPORT_HOURS": "Mon-Sun 00:00-24:00"}
    started: list[RunningService] = []
    try:
        port = free_port()
        actions = RunningService(
            actions_service(
                port,
                env={"DATABASE_URL": database, **hours},
                log_path=LOG_DIR / "report-actions.log",
            ),
            f"http://127.0.0.1:{port}",
        )
        await actions.start()
        started.append(actions)
        port = free_port()
        service = rasa_service(
            port,
            actions.url,
            env={
                "DATABASE_URL": database,
                "TRACKER_STORE_URL": f"sqlite:///{folder / 'rasa-trackers.db'}",
            },
            log_path=LOG_DIR / "report-rasa.log",
        )
        service.argv[service.argv.index("nlu/endpoints.yml")] = str(endpoints_with_broker(folder))
        rasa = RunningService(service, f"http://127.0.0.1:{port}")
        await rasa.start()
        started.append(rasa)
        async with TelegramEmulator(token=BOT_TOKEN) as telegram:
            telegram.add_group(DESK_CHAT_ID, "NTSA support desk", is_forum=True)
            env = {
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_BASE_URL": telegram.base_url,
                "RASA_URL": rasa.url,
                "DATABASE_URL": database,
                "LOG_LEVEL": "INFO",
                "GATEWAY_STATE_PATH": str(folder / "bot.pickle"),
                "CHAT_BURST_MESSAGES": "1000",
                **desk_env(),
                **hours,
            }
            gateway = RunningService(
                gateway_service(env=env, log_path=LOG_DIR / "report-bot.log"), ""
            )
            await gateway.service.start()
            started.append(gateway)
            await telegram.wait_until_polling(timeout=60)
            yield Stack(database, telegram, rasa)
    finally:
        for running in reversed(started):
            await running.stop()


def closure_answer(lang: str) -> str:
    """The FAQ's answer on the closure (the stack runs in real time)."""
    return faq.answer(Topic.CLOSURE, lang, datetime.now().astimezone()).text  # type: ignore[arg-type]


class Person:
    def __init__(self, telegram: Any, chat_id: int) -> None:
        self.tg, self.chat = telegram, chat_id

    async def say(self, text: str, count: int = 1) -> list[dict[str, Any]]:
        self.tg.push_text(self.chat, text)
        return await self.tg.wait_for_messages(self.chat, count=count, timeout=WAIT)

    async def press(self, title: str, count: int = 1) -> list[dict[str, Any]]:
        self.tg.press_button(self.chat, title)
        return await self.tg.wait_for_messages(self.chat, count=count, timeout=WAIT)


def buttons(message: Mapping[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def misses(rasa: RunningService, count: int) -> list[str]:
    """English nonsense the model lets fall back."""
    found = []
    async with aiohttp.ClientSession() as http:
        for text in GIBBERISH:
            url = f"{rasa.url}/model/parse"
            async with http.post(url, json={"text": text}, params=rasa_api_params()) as reply:
                intent = (await reply.json())["intent"]["name"]
            if intent == "nlu_fallback" and choose_language(text, "en") == "en":
                found.append(text)
    assert len(found) >= count, f"the model classified the gibberish: only {found} fell back"
    return found[:count]


async def until_turns(database: str, count: int) -> list[ActivityEvent]:
    """The broker's turn rows once there are ``count`` (it writes in the background)."""
    engine = create_engine(database)
    deadline = time.monotonic() + WAIT
    try:
        while True:
            async with create_session_factory(engine)() as db:
                query = select(ActivityEvent).where(ActivityEvent.kind == EventKind.TURN)
                rows = list(await db.scalars(query.order_by(ActivityEvent.id)))
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def test_a_few_conversations_are_counted_right(stack: Stack) -> None:
    tg, base = stack.telegram, 731_990_001 + os.getpid() % 1000 * 1_000
    answered, lost, swahili = Person(tg, base), Person(tg, base + 1), Person(tg, base + 2)

    # Answered in English, and in Kiswahili.
    [answer] = await answered.say("When does TIMS close?")
    assert answer["text"] == closure_answer("en")
    [jibu] = await swahili.say("TIMS itafungwa lini?")
    assert jibu["text"] == closure_answer("sw")

    # Two misses, the person button, a topic; an agent answers, hands back; rated 5.
    first, second = await misses(stack.rasa, 2)
    await lost.say(first)
    [offer] = await lost.say(second)
    human = t("en", "faq.human_button")
    assert human in buttons(offer)
    await lost.press(human)
    closure = dict((key, title) for title, key in texts.topic_question("en")[1])["closure"]
    await lost.press(closure)
    thread = await wait_until(
        lambda: desk_thread(stack.database, lost.chat), "the person's topic", timeout=WAIT
    )
    await topic_messages(tg, thread, 1, timeout=WAIT)  # the card
    tg.push_group_message(DESK_CHAT_ID, "Hello, I can help with that.", thread_id=thread)
    told, relayed = await tg.wait_for_messages(lost.chat, count=2, timeout=WAIT)
    assert told["text"] == texts.claimed("en", None)  # the first reply claimed it
    assert relayed["text"] == "Hello, I can help with that."
    tg.push_group_message(DESK_CHAT_ID, "/done", thread_id=thread)
    _, rating = await tg.wait_for_messages(lost.chat, count=2, timeout=WAIT)
    five = texts.rating_question("en")[1][4][0]
    await lost.press(five, count=2)

    # The broker's rows: one per turn (4 typed, 1 tapped), nothing personal.
    rows = await until_turns(stack.database, 5)
    assert [
        (r.intent, r.typed, r.fell_back, r.language.value if r.language else None) for r in rows
    ] == [
        ("faq_closure", True, False, "en"),
        ("faq_closure", True, False, "sw"),
        ("nlu_fallback", True, True, "en"),
        ("nlu_fallback", True, True, "en"),
        ("human_handoff", False, False, "en"),
    ]
    assert [r.text for r in rows] == [None, None, first, second, None]
    assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in rows)
    assert all(r.action for r in rows)

    # The report counts them.
    engine = create_engine(stack.database)
    try:
        sessions = create_session_factory(engine)
        now = Clock().now()
        await poll_rated(sessions, now)
        period = Period(now.date() - timedelta(days=1), now.date())
        hours = WorkingHours.parse("Mon-Sun 00:00-24:00")
        report = await load_report(sessions, period, now + timedelta(minutes=1), hours)
    finally:
        await engine.dispose()
    assert report.totals.conversations_total == 3
    assert report.totals.conversations == {"en": 2, "sw": 1}
    assert report.totals.people_total == 3
    assert report.fallbacks.rate("en") == pytest.approx(2 / 3)
    assert report.fallbacks.rate("sw") == 0.0
    assert report.handoffs.by_reason == {"misses": 1}
    assert report.handoffs.by_topic == {"closure": 1}
    assert report.containment.handed_off == 1
    assert report.containment.pending == 2  # settled, but too recent to tell for sure
    assert report.agent.claimed == 1
    assert report.agent.ratings == {5: 1}
    assert dict(report.topics) == {"faq_closure": {"en": 1, "sw": 1}}
    groups = unanswered.group(unanswered.missed(report.events, period))
    assert sorted(text for g in groups for text in g.texts) == sorted([first, second])


async def poll_rated(sessions: Any, now: datetime) -> None:
    """Until the rating's event is in (the gateway stores it after answering the tap)."""

    async def rated() -> bool:
        async with sessions() as db:
            query = select(ActivityEvent.id).where(ActivityEvent.kind == EventKind.HANDOFF_RATED)
            return await db.scalar(query) is not None

    deadline = time.monotonic() + WAIT
    while not await rated():
        assert time.monotonic() < deadline, "the rating never reached the record"
        await asyncio.sleep(0.2)


def test_the_nlu_draft_is_training_data_rasa_reads(tmp_path: Path) -> None:
    items = [
        unanswered.Missed("how do I renew my driving licence", "en", "a", "fell back"),
        unanswered.Missed("renew driving licence ****", "en", "b", "fell back"),
        unanswered.Missed("[ofisi](place) ya NTSA iko wapi: Kisumu?", "sw", "c", "fell back"),
    ]
    path = tmp_path / "missed.yml"
    unanswered.write_nlu_draft(unanswered.group(items), path)
    code = (
        "import json, sys\n"
        "from rasa.shared.nlu.training_data.loading import load_data\n"
        "data = load_data(sys.argv[1])\n"
        "print(json.dumps(sorted([m.get('intent'), m.get('text'), m.get('entities') or []]"
        " for m in data.training_examples)))\n"
    )
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [
        ["label_me_01", "how do I renew my driving licence", []],
        ["label_me_01", "renew driving licence ****", []],
        ["label_me_02", "(ofisi)(place) ya NTSA iko wapi: Kisumu?", []],
    ]
