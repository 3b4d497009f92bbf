"""``ntsa-assistant broadcast --text-file F --language en|sw --audience AUDIENCE``
(``subscribers``, ``session:CODE`` or ``registrants``): sends an operator's message
(listed in :func:`ntsa_assistant.cli.registrars`).

The command sends itself, through the Bot API (``TELEGRAM_BOT_TOKEN``,
``TELEGRAM_BASE_URL``), from a send list in the database (one row per recipient): 25
messages a second at most, one a second per chat, a 429 waited out, a blocked chat
unsubscribed. Stopped or killed half-way, the same command resumes the list without sending
anything twice (see :mod:`ntsa_assistant.announcements.broadcast`). A progress bar runs on
stderr; the final count (sent / blocked / failed) is printed on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ntsa_assistant.announcements import outbox
from ntsa_assistant.announcements.bot_api import BotApi, BotApiUnusable
from ntsa_assistant.announcements.broadcast import (
    Audience,
    Broadcaster,
    BroadcastError,
    Plan,
    TelegramUnreachable,
    check_text,
    count_audience,
    parse_audience,
    prepare,
    real_now,
    unfinished_broadcasts,
)
from ntsa_assistant.announcements.pacing import Pacer, SharedBudget
from ntsa_assistant.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    open_sessions,
    plural,
)
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import DeliveryState


def final_count(state: outbox.ListState) -> str:
    """``sent 185 · blocked 10 · failed 5`` (and what else ended the rows, if anything)."""
    counts = state.counts
    parts = [
        f"sent {counts.get(DeliveryState.SENT, 0)}",
        f"blocked {counts.get(DeliveryState.BLOCKED, 0)}",
        f"failed {counts.get(DeliveryState.FAILED, 0)}",
    ]
    if cancelled := counts.get(DeliveryState.CANCELLED, 0):
        parts.append(f"unsubscribed before sending {cancelled}")
    if state.pending:
        parts.append(f"left {state.pending}")
    return " · ".join(parts)


def _describe(plan: Plan, lang: Lang, audience: Audience, state: outbox.ListState) -> str:
    who = f"broadcast #{plan.announcement_id} ({lang}, {audience.value})"
    if plan.resumed:
        started = plan.created_at.strftime("%Y-%m-%d %H:%M %Z")
        return f"Resuming {who}, started {started}: {state.done} of {state.total} done."
    line = f"Sending {who} to {plural(state.total, 'recipient')}."
    if plan.left_out:
        other = "English" if lang == "sw" else "Kiswahili"
        line += (
            f" {plural(plan.left_out, 'more person')} of the audience use {other}: "
            f"send them the text in {other} with --language {'en' if lang == 'sw' else 'sw'}."
        )
    return line


class _Bar:
    """The progress bar and the counts beside it."""

    def __init__(self, state: outbox.ListState) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._counts = {s: state.counts.get(s, 0) for s in DeliveryState}
        self._task: TaskID = self.progress.add_task(
            "broadcast", total=state.total, completed=state.done, counts=self._text()
        )

    def _text(self) -> str:
        sent, blocked = self._counts[DeliveryState.SENT], self._counts[DeliveryState.BLOCKED]
        return f"sent {sent} · blocked {blocked} · failed {self._counts[DeliveryState.FAILED]}"

    def done(self, state: DeliveryState) -> None:
        self._counts[state] += 1
        self.progress.update(self._task, advance=1, counts=self._text())

    def waiting(self, count: int, until: object) -> None:
        """Every row left waits: retries, or rows a stopped run had in hand (their lease)."""
        self.progress.update(self._task, counts=f"{self._text()} · {count} waiting to retry")


async def _send(
    sessions: SessionFactory, settings: Settings, plan: Plan, state: outbox.ListState
) -> str | None:
    """Runs the sender; the reason it stopped early, or None."""
    assert settings.telegram_bot_token is not None
    shared = (
        SharedBudget(settings.redis_url, settings.redis_key_prefix) if settings.redis_url else None
    )
    bar = _Bar(state)
    try:
        async with aiohttp.ClientSession() as http:
            api = BotApi(
                http, settings.telegram_base_url, settings.telegram_bot_token.get_secret_value()
            )
            sender = Broadcaster(
                sessions, api, Pacer(shared=shared), on_done=bar.done, on_wait=bar.waiting
            )
            with bar.progress:
                await sender.run(plan.announcement_id)
    except (BotApiUnusable, TelegramUnreachable) as exc:
        return str(exc)
    finally:
        if shared is not None:
            await shared.close()
    return None


async def _broadcast(
    settings: Settings, text: str, lang: Lang, audience: Audience, dry_run: bool
) -> int:
    async with open_sessions(settings.database_url) as sessions:
        now = Clock(settings.assistant_now).now()
        if dry_run:
            reach, left_out = await count_audience(sessions, lang, audience, now)
            print(
                f"Dry run: {audience.value} in {lang} is {plural(reach, 'recipient')} now "
                f"({left_out} more use the other language); nothing sent."
            )
            return EXIT_OK
        plan = await prepare(sessions, text, lang, audience, now)
        state = await outbox.list_state(sessions, plan.announcement_id, real_now())
        print(_describe(plan, lang, audience, state))
        for other, other_lang, other_audience, pending in await unfinished_broadcasts(
            sessions, but=plan.announcement_id
        ):
            print(
                f"Note: broadcast #{other} ({other_lang}, {other_audience}) has "
                f"{plural(pending, 'message')} left; run its command again to finish it."
            )
        stopped = await _send(sessions, settings, plan, state) if state.pending else None
        state = await outbox.list_state(sessions, plan.announcement_id, real_now())
        print(f"Broadcast #{plan.announcement_id}: {final_count(state)}")
        if stopped:
            print(
                f"ntsa-assistant: broadcast stopped: {stopped}. Run the same command again "
                "to send what is left.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        return EXIT_OK


def run_broadcast(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = check_text(Path(args.text_file).read_text("utf-8"))
        audience = parse_audience(args.audience)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ntsa-assistant: cannot read {args.text_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BroadcastError as exc:
        print(f"ntsa-assistant: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.telegram_bot_token is None and not args.dry_run:
        print(
            "ntsa-assistant: TELEGRAM_BOT_TOKEN is not set: a broadcast is sent by the bot",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        return asyncio.run(_broadcast(settings, text, args.language, audience, args.dry_run))
    except BroadcastError as exc:
        print(f"ntsa-assistant: {exc}", file=sys.stderr)
        return EXIT_USAGE


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "broadcast",
        help="send an announcement to subscribers or training registrants",
        description="Sends the text of a file to an audience, in one language: to the chats "
        "subscribed in that language (subscribers), to the registrants of one training "
        "session (session:CODE) or of every session not yet over (registrants) who use it. "
        "At most 25 messages a second, one a second per chat; a chat that blocked the bot is "
        "unsubscribed. Run the same command again to resume a broadcast that was stopped: "
        "nothing is sent twice.",
    )
    parser.add_argument("--text-file", required=True, metavar="F", help="UTF-8 text to send")
    parser.add_argument(
        "--language", required=True, choices=("en", "sw"), help="the language of the text"
    )
    parser.add_argument(
        "--audience",
        required=True,
        metavar="subscribers|session:CODE|registrants",
        help="who gets it",
    )
    parser.add_argument("--dry-run", action="store_true", help="count the audience, send nothing")
    parser.set_defaults(handler=run_broadcast)
