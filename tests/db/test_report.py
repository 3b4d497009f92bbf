"""``ntsa-assistant report`` on SQLite and PostgreSQL: the figures from a record written by
the features and by Rasa's broker (its rows inserted here as it writes them), the HTML
file, the list of what was missed and its NLU draft, and the record's retention."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from sqlalchemy import func, select

from ntsa_assistant.cli import EXIT_OK, EXIT_USAGE, build_parser
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import feedback
from ntsa_assistant.handoff import desk
from ntsa_assistant.protocol import HandoffReason, HandoffRequest, TranscriptLine
from ntsa_assistant.reporting import retention
from ntsa_assistant.reporting.activity import chat_key, masked, secret_of
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    ActivityEvent,
    CloseReason,
    EventKind,
    Language,
)
from ntsa_assistant.training import booking
from tests.support.training import add_session, person

# Thursday 10 December 2026, 18:00 in Nairobi; the record runs Tuesday 1st to Thursday 3rd.
NOW = datetime(2026, 12, 10, 18, 0, tzinfo=NAIROBI)
DESK = -1_001_000_000_001


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=NAIROBI)


async def run_cli(url: str, *argv: str) -> int:
    """A subcommand's handler in a thread (it runs its own event loop), at ``NOW``."""
    args = build_parser().parse_args(list(argv))
    settings = Settings(database_url=url, assistant_now=NOW)
    return await asyncio.to_thread(args.handler, args, settings)


async def turns(sessions: SessionFactory, rows: list[tuple[int, datetime, str, str, str]]) -> None:
    """Turn rows as Rasa's broker writes them: (chat, when, intent, language, text)."""
    async with sessions() as db, db.begin():
        secret = await secret_of(db, NOW)
        for chat, when, intent, lang, text in rows:
            fell_back = intent == "nlu_fallback"
            db.add(
                ActivityEvent(
                    at=when,
                    kind=EventKind.TURN,
                    chat=chat_key(secret, chat),
                    language=Language(lang),
                    intent=intent,
                    confidence=0.3 if fell_back else 0.9,
                    typed=True,
                    fell_back=fell_back,
                    action="action_clarify" if fell_back else "action_answer_faq",
                    latency_ms=50,
                    text=masked(text) if fell_back else None,
                )
            )


@pytest.fixture
async def record(session_factory: SessionFactory) -> None:
    """Three people: one answered (en), one who fell back twice and was handed to an agent
    who answered and was rated (sw), one who registered for a training (en); two votes."""
    await turns(
        session_factory,
        [
            (1, at(1, 9, 0), "faq_closure", "en", "When does TIMS close?"),
            (1, at(1, 9, 1), "faq_login", "en", "how do I log in after"),
            (2, at(2, 15, 0), "nlu_fallback", "sw", "nataka kurenew leseni yangu 0712345678"),
            (2, at(2, 15, 1), "nlu_fallback", "sw", "nataka ku-renew leseni"),
            (900_003, at(3, 10, 0), "faq_training", "en", "training please"),  # person(3)
        ],
    )
    lines = (TranscriptLine("person", "nataka ku-renew leseni"),)
    view = await desk.begin(
        session_factory, 2, HandoffRequest("sw", HandoffReason.MISSES, lines), at(2, 15, 2)
    )
    await desk.choose(
        session_factory,
        view.id,
        topic="other",
        typed_reason=None,
        desks=(DESK,),
        label="Amina",
        open_now=True,
        now=at(2, 15, 3),
    )
    await desk.claim(session_factory, view.id, 500, None, at(2, 15, 23))
    await desk.close(session_factory, view.id, CloseReason.DONE, at(2, 15, 40))
    await desk.rate(session_factory, 2, view.id, 5, at(2, 15, 41))
    code = await add_session(session_factory, "TRN-REP-01", capacity=4, starts_at=at(15, 9))
    await booking.register(session_factory, code, person(3), at(3, 10, 1))
    await feedback.record(session_factory, "closure", "en", True, "a", at(1, 12), voter="v1")
    await feedback.record(session_factory, "training", "sw", False, "b", at(2, 12), voter="v2")


async def test_the_report_counts_what_happened(
    record: None, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(
        database_url, "report", "--since", "2026-12-01", "--until", "2026-12-03"
    ) == (EXIT_OK)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == (
        "NTSA assistant report, 2026-12-01 to 2026-12-03 (Africa/Nairobi), as of 2026-12-10 18:00"
    )
    summary = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines[2:13])
    assert summary["Conversations"] == "3 (en 2 · sw 1)"
    assert summary["People"] == "3 (en 2 · sw 1)"
    assert summary["Containment"] == (
        "67% of 3 judged (settled by the assistant alone, no return within 7 days) · "
        "no person asked in 2 of 3 · back within 7 days 0 · too recent to judge 0"
    )
    assert summary["Fallback rate"] == "40% of 5 typed messages (en 0%, sw 100%)"
    assert summary["Handoffs"] == "1 (33% of conversations): misses 1"
    assert summary["First agent reply"].startswith("median 20 min, p90 20 min in working hours")
    assert summary["Rating"] == "5.0 of 5 from 1 of 1 asked (5★ 1)"
    assert summary["Registrations"] == "seated 1"
    assert (
        "TRN-REP-01  2026-12-15 09:00    en         4          1         0          0     25%"
        in out
    )
    assert "closure                    1   0    100%" in out
    assert "training                   0   1      0%" in out
    assert "Not understood: 2 messages in 1 group " in out
    assert "0712345678" not in out


async def test_the_html_report_is_one_file_with_charts(
    record: None, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "out" / "report.html"
    argv = ("report", "--since", "2026-12-01", "--until", "2026-12-03", "--html", str(page))
    assert await run_cli(database_url, *argv) == EXIT_OK
    assert f"wrote the report with its charts to {page}" in capsys.readouterr().out
    html = page.read_text("utf-8")
    assert not re.search(r"https?:|<script|<link|\bsrc=", html)
    assert len(re.findall(r'<svg class="chart"', html)) == 4
    assert "<title>Kiswahili, 02 Dec: 1</title>" in html  # a conversation in Kiswahili that day
    assert "nataka ku-renew leseni" in html  # what it missed, masked


async def test_unanswered_lists_the_misses_grouped_and_masked(
    record: None, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("report", "--since", "2026-12-01", "--until", "2026-12-03", "--unanswered")
    assert await run_cli(database_url, *argv) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "What the assistant missed, 2026-12-01 to 2026-12-03: 2 messages in 1 group (masked)",
        "count  people  languages    example",
        "    2       1  sw 2         nataka ku-renew leseni",
        "                            nataka kurenew leseni yangu ****",
    ]


async def test_export_nlu_writes_a_draft_to_label(
    record: None, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "missed.yml"
    argv = ("report", "--since", "2026-12-01", "--until", "2026-12-03", "--export-nlu", str(draft))
    assert await run_cli(database_url, *argv) == EXIT_OK
    assert capsys.readouterr().out == f"wrote 1 group to label to {draft}\n"
    data = YAML(typ="safe").load(StringIO(draft.read_text("utf-8")))
    assert data == {
        "version": "3.1",
        "nlu": [
            {
                "intent": "label_me_01",
                "examples": "- nataka ku-renew leseni\n- nataka kurenew leseni yangu ****\n",
            }
        ],
    }


async def test_an_empty_record_reports_zeros(
    session_factory: SessionFactory, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(database_url, "report") == EXIT_OK
    out = capsys.readouterr().out
    assert "NTSA assistant report, 2026-11-11 to 2026-12-10" in out
    assert "Conversations      0 (en 0 · sw 0)" in out
    assert "Fallback rate      - of 0 typed messages" in out


async def test_since_after_until_is_a_usage_error(
    session_factory: SessionFactory, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("report", "--since", "2026-12-05", "--until", "2026-12-01")
    assert await run_cli(database_url, *argv) == EXIT_USAGE
    assert "--since 2026-12-05 is after --until 2026-12-01" in capsys.readouterr().err


async def test_retention_clears_old_texts_then_old_events(
    session_factory: SessionFactory,
) -> None:
    await turns(
        session_factory,
        [
            (1, NOW - timedelta(days=400), "nlu_fallback", "en", "very old miss"),
            (1, NOW - timedelta(days=100), "nlu_fallback", "en", "old miss"),
            (1, NOW - timedelta(days=10), "nlu_fallback", "en", "recent miss"),
        ],
    )
    keep = retention.ActivityRetention(events=timedelta(days=365), texts=timedelta(days=90))
    assert await retention.purge(session_factory, NOW, keep, dry_run=True) == {
        "activity_texts": 1,
        "activity_events": 1,
    }
    assert await retention.purge(session_factory, NOW, keep) == {
        "activity_texts": 1,
        "activity_events": 1,
    }
    async with session_factory() as db:
        left = (await db.execute(select(ActivityEvent.text).order_by(ActivityEvent.at))).all()
        assert [text for (text,) in left] == [None, "recent miss"]
        assert await db.scalar(select(func.count()).select_from(ActivityEvent)) == 2


def test_retention_reads_its_periods_from_the_settings() -> None:
    keep = retention.ActivityRetention.from_settings(Settings())
    assert keep == retention.ActivityRetention(timedelta(days=365), timedelta(days=90))
