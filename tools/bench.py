"""Load and fault benchmark of the whole stack: ``make bench`` (``python -m tools.bench -h``).

Starts the real action server, Rasa (one or more replicas) and the gateway against an
emulated Telegram in this process, on a fresh database, then drives two phases at the
same fixed rate and mix of user turns (tools/bench_mix.py):

1. **direct** — Rasa's REST channel, posted to as the gateway would (same payloads,
   metadata and signed contact claims): what Rasa and the actions can do alone;
2. **whole path** — emulated Telegram → gateway → Rasa → actions → database.

Direct first: it is the ceiling the whole path can at best reach, and a warm-up of a few
turns of each kind through both paths comes before either, so neither phase pays for
model loading. A fault (``--fault``) is injected halfway through the whole-path phase.

Prints throughput, p50/p95/p99 latency per kind of turn (first message and whole
answer), replies lost and duplicated, CPU and memory of every process tree, and writes
the figures (JSON) and a latency-over-time chart (SVG) to var/bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import itertools
import logging
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ntsa_assistant.storage.engine import create_engine
from tests.support.processes import free_port
from tools import stack
from tools.bench_mix import (
    MIX,
    STYLE_LANGUAGE,
    STYLES,
    Account,
    Chat,
    Conversation,
    Expect,
    Person,
    Phrases,
    Say,
    Slots,
    Unpaced,
    converse,
    faq_chat,
    faq_size_key,
    load_phrases,
    registration,
    status_check,
)
from tools.bench_report import (
    ProcessSampler,
    chart,
    print_phase,
    print_verdict,
    write,
)
from tools.bench_stats import (
    AnswerSizes,
    Turn,
    attribute,
    duplicated,
    incomplete,
    latency_by_kind,
    lost,
    percentile,
    recovery_seconds,
    timeline,
    unverified,
    verdict,
    window,
)
from tools.bench_transport import (
    RestChannel,
    TcpProxy,
    TelegramChannel,
    answered_twice,
    delivered_twice,
    home_replica,
    webhook_deliveries,
)
from tools.stack import ROOT, Service, actions_service, gateway_service, rasa_service, webhook_env

__all__ = ["main", "percentile", "port", "prepare_database"]

logger = logging.getLogger(__name__)

TOKEN = "123456:BENCH"
FAULTS = ("none", "kill-replica", "restart-gateway", "db-outage", "telegram-429")
PHASES = ("direct", "telegram")
TITLES = {
    "direct": "Rasa REST direct",
    "telegram": "whole path (Telegram → gateway → Rasa → actions → DB)",
}
# Chat ids of each phase (and the warm-up) apart, so no conversation mixes with another.
CHAT_BASE = {"learn": 800_000_000, "warm-direct": 810_000_000, "warm-telegram": 820_000_000}
CHAT_BASE |= {"direct": 830_000_000, "telegram": 850_000_000}
AROUND_FAULT = 30.0  # seconds before and after a fault that its report compares
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


# --- what bench_desk shares ------------------------------------------------------------------


def port(base: int) -> int:
    """Ports clear of a running ``make run``."""
    return base + os.getpid() % 500


def prepare_database(workdir: Path) -> str:
    """A fresh SQLite database with the schema and the demo records."""
    db = f"sqlite+aiosqlite:///{workdir}/bench.db"
    cli = Path(sys.executable).parent / "ntsa-assistant"
    env = os.environ | {"DATABASE_URL": db}
    for command in ("migrate", "demo"):
        subprocess.run([str(cli), command], env=env, check=True, capture_output=True)
    return db


# --- options ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per phase")
    parser.add_argument("--rate", type=float, default=30.0, help="user turns per second")
    parser.add_argument("--replicas", type=int, default=1, help="Rasa replicas")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="a fresh one each run",
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to make a fresh database on (default: TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="REDIS_URL for the gateway and Rasa's lock store (the bench empties that database "
        "before and after)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="the Redis database of --redis (BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="the gateway in webhook mode (Telegram POSTs each update), not polling",
    )
    parser.add_argument(
        "--fault",
        choices=FAULTS,
        default="none",
        help="made to happen halfway through the whole-path phase",
    )
    parser.add_argument(
        "--fault-seconds",
        type=float,
        default=10.0,
        help="how long the database is cut off, or Telegram answers 429",
    )
    parser.add_argument(
        "--phases", default="direct,telegram", help="which phases, in order (direct, telegram)"
    )
    parser.add_argument("--think", type=float, default=0.5, help="mean think time, seconds")
    parser.add_argument(
        "--retry-wait", type=float, default=3.0, help="seconds before a person tries again"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="after a phase, wait for answers until nothing happened for this many seconds",
    )
    parser.add_argument(
        "--drain-max",
        type=float,
        default=180.0,
        help="after a phase, wait for answers at most this long (what is still unanswered "
        "then counts as lost)",
    )
    parser.add_argument("--warmup", type=float, default=8.0, help="warm-up seconds per path")
    parser.add_argument("--seed", type=int, default=20261205, help="the same seed, the same run")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="figures go here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and database")
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not args.phases or any(p not in PHASES for p in args.phases):
        parser.error(f"--phases takes a comma-separated list of {', '.join(PHASES)}")
    if args.fault != "none" and "telegram" not in args.phases:
        parser.error("a fault is injected in the whole-path (telegram) phase: add it to --phases")
    if args.fault == "db-outage" and args.database != "postgresql":
        parser.error("--fault db-outage cuts a TCP relay to PostgreSQL: use --database postgresql")
    if args.fault == "kill-replica" and args.replicas < 2:
        print("note: with one replica, --fault kill-replica leaves no replica to move to")
    if args.replicas < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--replicas, --rate and --duration must be positive")
    if args.database == "postgresql":
        args.database_url = args.database_url or os.environ.get("TEST_POSTGRES_URL")
        if not args.database_url:
            parser.error("--database postgresql needs --database-url or TEST_POSTGRES_URL")
    return args


# --- the data of a run -----------------------------------------------------------------------


def accounts_needed(rate: float, duration: float, phases: int) -> int:
    """Status checks a run may make (each its own person: look-ups per ID are limited)."""
    per_second = rate * MIX["status"] / 3  # three turns per check
    return int(per_second * duration * phases * 1.5) + 200


def write_records(directory: Path, count: int) -> list[Account]:
    """accounts.csv and transactions.csv of ``count`` people made up for the run."""
    directory.mkdir(parents=True, exist_ok=True)
    accounts = [Account(f"{30_000_000 + n}", f"+25471{n:07d}") for n in range(count)]
    with (directory / "accounts.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id_number", "full_name", "phone", "email", "validated_on"])
        for n, account in enumerate(accounts):
            validated = "2023-12-04" if n % 2 else ""
            out.writerow([account.id_number, f"Bench Person {n}", account.phone, "", validated])
    with (directory / "transactions.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["reference", "id_number", "service", "status", "submitted_on", "updated_on"])
        for n, account in enumerate(accounts):
            if n % 3 == 0:
                out.writerow(
                    [f"BENCH-DL-{n:07d}", account.id_number, "Driving licence renewal",
                     "awaiting_payment", "2023-12-01", "2023-12-02"]
                )  # fmt: skip
            if n % 5 == 0:
                out.writerow(
                    [f"BENCH-MVT-{n:07d}", account.id_number, "Motor vehicle transfer",
                     "completed", "2023-11-20", "2023-11-29"]
                )  # fmt: skip
    return accounts


async def _cli(database_url: str, *command: str) -> None:
    cli = Path(sys.executable).parent / "ntsa-assistant"
    process = await asyncio.create_subprocess_exec(
        str(cli),
        *command,
        env=os.environ | {"DATABASE_URL": database_url},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"ntsa-assistant {' '.join(command)} failed:\n{output.decode()}")


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace, workdir: Path) -> AsyncIterator[str]:
    """A fresh database for the run: an SQLite file, or a new PostgreSQL database."""
    if args.database == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir}/bench.db"
        return
    from tests.support.databases import fresh_postgres_database

    if args.keep:
        print("note: the PostgreSQL database is dropped at the end even with --keep")
    async with fresh_postgres_database(args.database_url) as url:
        yield url


@contextlib.asynccontextmanager
async def redis_database(url: str | None) -> AsyncIterator[str | None]:
    """The Redis database of the run, emptied before and after."""
    if url is None:
        yield None
        return
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    try:
        await client.flushdb()
        yield url
    finally:
        await client.flushdb()
        await client.aclose()


# --- the stack -------------------------------------------------------------------------------


@dataclass
class Stack:
    actions: Service
    rasa: list[Service]
    gateway: Service
    rasa_urls: list[str]
    ready_s: dict[str, float] = field(default_factory=dict)

    @property
    def services(self) -> list[Service]:
        return [self.actions, *self.rasa, self.gateway]

    def pids(self) -> dict[str, int | None]:
        found: dict[str, int | None] = {"bench": os.getpid()}
        for service, name in zip(self.services, self.names(), strict=True):
            running = service.process is not None and service.process.returncode is None
            found[name] = service.process.pid if running and service.process else None
        return found

    def names(self) -> list[str]:
        rasa = ["rasa"] if len(self.rasa) == 1 else [f"rasa-{i + 1}" for i in range(len(self.rasa))]
        return ["actions", *rasa, "gateway"]

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in reversed(self.services)))


def build_stack(
    args: argparse.Namespace,
    workdir: Path,
    app_db: str,
    tg_base_url: str,
    redis_url: str | None,
) -> Stack:
    logs = workdir / "logs"
    actions_port = free_port()
    common = {"DATABASE_URL": app_db, "LOG_LEVEL": "WARNING", "PTB_TIMEDELTA": "true"}
    if redis_url:
        common["REDIS_URL"] = redis_url
    actions = actions_service(actions_port, env=common, log_path=logs / "actions.log")
    actions_url = f"http://127.0.0.1:{actions_port}"
    rasa_env = dict(common)
    make_tracker_url = getattr(stack, "tracker_store_url", None)
    if make_tracker_url is not None:
        rasa_env["TRACKER_STORE_URL"] = make_tracker_url(app_db)
    rasa: list[Service] = []
    urls: list[str] = []
    for number in range(args.replicas):
        rasa_port = free_port()
        service = rasa_service(
            rasa_port, actions_url, env=rasa_env, log_path=logs / f"rasa-{number + 1}.log"
        )
        rasa.append(service)
        urls.append(f"http://127.0.0.1:{rasa_port}")
    gateway_env = common | {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": tg_base_url,
        "RASA_URL": ",".join(urls),
        "GATEWAY_STATE_PATH": str(workdir / "gateway-state.pickle"),
        # People in the run type faster than people do (think time under a second).
        "CHAT_BURST_MESSAGES": "1000",
    }
    if args.webhook:
        hook_port = free_port()
        gateway_env |= webhook_env(hook_port, secrets.token_hex(16))
    gateway = gateway_service(env=gateway_env, log_path=logs / "gateway.log")
    return Stack(actions, rasa, gateway, urls)


async def start_stack(stack_: Stack, channel: TelegramChannel) -> None:
    started = time.monotonic()
    await stack_.actions.start()
    await asyncio.gather(*(s.start() for s in stack_.rasa))
    await stack_.actions.wait_ready(300)
    stack_.ready_s["actions"] = round(time.monotonic() - started, 1)
    await asyncio.gather(*(s.wait_ready(600) for s in stack_.rasa))
    stack_.ready_s["rasa"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    await stack_.gateway.start()
    await wait_for_poll(channel, stack_.gateway, started, 300)
    stack_.ready_s["gateway"] = round(time.monotonic() - started, 1)


async def wait_for_poll(
    channel: TelegramChannel, gateway: Service, since: float, within: float
) -> None:
    """Until the gateway asks Telegram for updates, or sets its webhook (after ``since``)."""
    deadline = time.monotonic() + within
    while max(channel.last_poll, channel.last_hook) <= since:
        if not gateway.running:
            raise RuntimeError(f"the gateway exited; see {gateway.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway did not poll within {within:.0f} s")
        await asyncio.sleep(0.1)


def single_rasa_only(replicas: int) -> str | None:
    """Why several replicas cannot be used with this gateway, or None if they can."""
    if replicas == 1:
        return None
    from ntsa_assistant.core.settings import Settings

    try:
        Settings(rasa_url="http://127.0.0.1:1,http://127.0.0.1:2")  # type: ignore[call-arg]
    except ValueError:
        return "this gateway takes one RASA_URL only"
    return None


# --- faults ----------------------------------------------------------------------------------


@dataclass
class FaultContext:
    stack: Stack
    channel: TelegramChannel
    proxy: TcpProxy | None
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


async def inject(name: str, ctx: FaultContext) -> tuple[float, float]:
    """Makes fault ``name`` happen now; returns (when it began, when it was over)."""
    began = time.monotonic()
    if name == "kill-replica":
        victim = ctx.stack.rasa[0]
        assert victim.process is not None
        os.killpg(victim.process.pid, signal.SIGKILL)
        await victim.process.wait()
        ctx.details["replica"] = ctx.stack.rasa_urls[0]
        # Restarted at once, as make run's supervisor would: its chats go home when it is up.
        await victim.start()
        await victim.wait_ready(600)
        ctx.details["back_after_s"] = round(time.monotonic() - began, 1)
    elif name == "restart-gateway":
        await ctx.stack.gateway.stop(grace=30)
        ctx.details["stopped_after_s"] = round(time.monotonic() - began, 1)
        restarted = time.monotonic()
        await ctx.stack.gateway.start()
        await wait_for_poll(ctx.channel, ctx.stack.gateway, restarted, 300)
        ctx.details["taking_updates_again_after_s"] = round(time.monotonic() - began, 1)
    elif name == "db-outage":
        assert ctx.proxy is not None
        ctx.proxy.cut()
        await asyncio.sleep(ctx.seconds)
        ctx.proxy.restore()
        ctx.details["connections_dropped"] = ctx.proxy.dropped
        ctx.details["connections_refused"] = ctx.proxy.refused
    elif name == "telegram-429":
        assert ctx.channel.tg is not None
        ctx.channel.tg.flood(ctx.seconds)
        await asyncio.sleep(ctx.seconds)
        ctx.details["calls_refused_429"] = ctx.channel.tg.flood_refusals
    return began, time.monotonic()


# --- learning how long answers are ------------------------------------------------------------


async def learn_sizes(
    rest: RestChannel,
    phrases: Phrases,
    sizes: AnswerSizes,
    accounts: Callable[[], Account],
    people: itertools.count[int],
    seed: int,
    forms: int = 16,
    at_once: int = 8,
) -> list[Conversation]:
    """How many messages make each whole answer, learnt where answers come whole (Rasa's
    REST channel): every FAQ question once (an answer has one message per topic a question
    asks about), and ``forms`` registrations and a few status checks, whose branches
    (tapped or typed, with or without e-mail, a dealer's KRA PIN, a waitlist) are drawn at
    random. Each in a chat of its own, ``at_once`` at a time, without pauses."""
    gate = asyncio.Semaphore(at_once)
    numbers = itertools.count(CHAT_BASE["learn"])
    rng = random.Random(f"{seed}-learn")
    records: list[Conversation] = []

    async def talk(kind: str, style: str, script: Callable[[Person], Awaitable[None]]) -> None:
        async with gate:
            chat = Chat(next(numbers), kind, STYLE_LANGUAGE[style][0])
            record = Conversation(kind, chat.chat_id, style)
            records.append(record)
            person = Person(
                rest, chat, record, Unpaced(), random.Random(rng.random()), 0.0, 0.0, sizes
            )
            await converse(person, script(person))

    jobs = [
        talk(
            "faq",
            style,
            lambda p, q=q: p.turn("question", Say(q), Expect(anything=True), faq_size_key(q)),
        )
        for style in STYLES
        for q in dict.fromkeys(phrases.faq[style])
    ]
    for n in range(forms):
        style = STYLES[n % len(STYLES)]
        number = next(people)
        jobs.append(
            talk(
                "registration",
                style,
                lambda p, s=style, k=number: registration(p, phrases.training[s], k),
            )
        )
        if n % 3 == 0:
            account = accounts()
            jobs.append(
                talk(
                    "status",
                    style,
                    lambda p, s=style, a=account: status_check(p, phrases.status[s], a),
                )
            )
    await asyncio.gather(*jobs)
    return records


# --- one phase -------------------------------------------------------------------------------


@dataclass
class PhaseRun:
    name: str
    conversations: list[Conversation]
    slots: Slots
    started: float
    ended: float  # when the schedule ended
    drained: float
    drain_end: str
    fault: dict[str, Any] | None = None

    @property
    def turns(self) -> list[Turn]:
        return [t for c in self.conversations for t in c.turns]


async def run_phase(
    name: str,
    channel: TelegramChannel | RestChannel,
    args: argparse.Namespace,
    phrases: Phrases,
    accounts: Callable[[], Account],
    people: itertools.count[int],
    sizes: AnswerSizes,
    rate: float,
    duration: float,
    fault: Callable[[], Any] | None = None,
) -> PhaseRun:
    """``rate`` turns a second for ``duration`` seconds, then the drain."""
    rng = random.Random(f"{args.seed}-{name}")
    conversations: list[Conversation] = []
    tasks: set[asyncio.Task[None]] = set()
    progress = [time.monotonic()]
    numbers = itertools.count()

    def opener(kind: str) -> None:
        n = next(numbers)
        style = rng.choice(STYLES)
        chat = Chat(CHAT_BASE[name] + n, kind, rng.choice(STYLE_LANGUAGE[style]))
        record = Conversation(kind, chat.chat_id, style)
        conversations.append(record)
        person = Person(
            channel,
            chat,
            record,
            slots,
            random.Random(rng.random()),
            args.think,
            args.retry_wait,
            sizes,
        )
        if kind == "faq":
            script = faq_chat(person, phrases.faq[style])
        elif kind == "status":
            script = status_check(person, phrases.status[style], accounts())
        else:
            script = registration(person, phrases.training[style], next(people))
        task = asyncio.create_task(converse(person, script))
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            tasks.discard(finished)
            channel.forget(chat.chat_id)
            progress[0] = time.monotonic()

        task.add_done_callback(done)

    slots = Slots(rate, MIX, opener)
    started = time.monotonic()
    fault_task = None
    fault_info: dict[str, Any] | None = None
    if fault is not None:

        async def halfway() -> tuple[float, float, dict[str, Any]]:
            await asyncio.sleep(duration / 2)
            return await fault()

        fault_task = asyncio.create_task(halfway())
    await slots.run(duration)
    ended = time.monotonic()
    events_seen = len(channel.events) if isinstance(channel, TelegramChannel) else 0
    drain_end = "all answered"
    while tasks:
        await asyncio.wait(set(tasks), timeout=1.0)
        if isinstance(channel, TelegramChannel) and len(channel.events) != events_seen:
            events_seen, progress[0] = len(channel.events), time.monotonic()
        if time.monotonic() - progress[0] > args.drain:
            drain_end = f"nothing answered for {args.drain:g} s"
            break
        if time.monotonic() - ended > args.drain_max:
            drain_end = f"cut at --drain-max {args.drain_max:g} s, answers still coming"
            break
    channel.release()
    if tasks:
        await asyncio.wait(set(tasks), timeout=5)
        for task in list(tasks):
            task.cancel()
    drained = time.monotonic()
    if fault_task is not None:
        began, over, extra = await fault_task
        fault_info = {"began": began, "over": over, **extra}
    return PhaseRun(name, conversations, slots, started, ended, drained, drain_end, fault_info)


async def registrations_saved(app_db: str, first: int, last: int) -> dict[int, str]:
    """Active registrations of the chats ``first``..``last``: chat id → status."""
    engine = create_engine(app_db)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT chat_id, status FROM training_registrations "
                    "WHERE chat_id BETWEEN :first AND :last AND status <> 'cancelled'"
                ),
                {"first": first, "last": last},
            )
            return {int(chat): str(status) for chat, status in rows}
    finally:
        await engine.dispose()


def across(conversations: Sequence[Conversation], moment: float) -> dict[str, int]:
    """How the conversations that had turns both before and after ``moment`` ended."""
    spanning = [
        c
        for c in conversations
        if c.turns and c.turns[0].sent_at < moment and c.turns[-1].sent_at >= moment
    ]
    return dict(Counter(c.outcome for c in spanning))


def registration_check(run: PhaseRun, saved: dict[int, str]) -> dict[str, int]:
    """What people were told against what was saved: both sides must agree."""
    told = {c.chat_id: c.registered for c in run.conversations if c.registered}
    regs = [c for c in run.conversations if c.kind == "registration"]
    return {
        "forms_started": len(regs),
        "told_confirmed": sum(1 for v in told.values() if v == "confirmed"),
        "told_waitlisted": sum(1 for v in told.values() if v == "waitlisted"),
        "saved": len(saved),
        "told_but_not_saved": sum(1 for c, v in told.items() if saved.get(c) != v),
        "saved_but_not_told": sum(1 for c in saved if c not in told),
    }


def _examples(conversations: Sequence[Conversation], per_outcome: int = 3) -> dict[str, list]:
    """A few replies that ended a conversation unread, per outcome (the bot's own words)."""
    found: dict[str, list[list[str]]] = {}
    for c in conversations:
        if c.unread and len(found.setdefault(c.outcome, [])) < per_outcome:
            found[c.outcome].append(list(c.unread))
    return found


def _sizes(sizes: AnswerSizes) -> dict[str, object]:
    """Messages per whole answer as learnt: per step and reply; FAQ questions in sum."""
    table: dict[str, object] = {}
    faq: Counter[str] = Counter()
    for (kind, step, key), counts in sizes.seen.items():
        if step.startswith("question:"):
            faq[str(counts.most_common(1)[0][0])] += 1
        else:
            table[f"{kind}/{step}/{key}"] = dict(counts)
    table["faq questions, by messages per answer"] = dict(faq)
    return table


def _by_step(turns: Sequence[Turn]) -> dict[tuple[str, str], list[Turn]]:
    found: dict[tuple[str, str], list[Turn]] = {}
    for turn in turns:
        found.setdefault((turn.kind, turn.step), []).append(turn)
    return found


def figures(
    run: PhaseRun,
    args: argparse.Namespace,
    channel: TelegramChannel | RestChannel,
    sampler: ProcessSampler,
    sizes: AnswerSizes,
    rate: float,
    duration: float,
) -> dict[str, Any]:
    turns = run.turns
    unprompted = 0
    if isinstance(channel, TelegramChannel):
        unprompted = attribute(turns, channel.events)
    in_window = [t for t in turns if t.last_at is not None and t.last_at <= run.ended]
    outcomes = Counter(c.outcome.split(":")[0] for c in run.conversations)
    by_kind = {
        kind: dict(Counter(c.outcome for c in run.conversations if c.kind == kind)) for kind in MIX
    }
    rows = timeline(turns, run.started, int(duration))
    phase: dict[str, Any] = {
        "title": TITLES[run.name],
        "offered_rate": rate,
        "duration_s": duration,
        "turns": len(turns),
        "sent_rate": round(len(turns) / duration, 2),
        "answered_rate": round(len(in_window) / duration, 2),
        "lost": lost(turns),
        "duplicated": duplicated(turns),
        "incomplete": incomplete(turns),
        "not_checked_for_duplicates": unverified(turns),
        "unprompted_messages": unprompted,
        "drain": {"seconds": round(run.drained - run.ended, 1), "ended": run.drain_end},
        "mix_due": dict(run.slots.due),
        "conversations_opened": dict(run.slots.opened),
        "conversations": dict(outcomes),
        "conversations_by_kind": by_kind,
        "retries": sum(c.retries for c in run.conversations),
        "unread_examples": _examples(run.conversations),
        "duplicated_examples": [
            {"step": f"{t.kind}/{t.step}", "expected": t.expected, "texts": t.texts}
            for t in turns
            if t.expected is not None and t.messages > t.expected
        ][:5],
        "replies": dict(Counter(t.reply for t in turns)),
        "answer_sizes": {f"{k}/{s}/{key}": dict(c) for (k, s, key), c in sizes.seen.items()},
        "messages_per_answer": {
            f"{kind}/{step}": dict(sorted(Counter(str(t.messages) for t in chosen).items()))
            for (kind, step), chosen in _by_step(turns).items()
        },
        "latency": latency_by_kind(turns),
        "processes": sampler.between(run.started, run.ended),
        "generator": run.slots.lag.as_dict(),
        "timeline": rows,
    }
    if isinstance(channel, TelegramChannel):
        chats = {t.chat_id for t in turns}
        updates = {t.update_id for t in turns if t.update_id is not None}
        taken = webhook_deliveries(channel.tg) if args.webhook else channel.deliveries
        phase["telegram"] = {
            "updates_taken_twice": delivered_twice(
                Counter({u: n for u, n in taken.items() if u in updates})
            ),
            "button_presses_answered_twice": answered_twice(channel.callback_answers),
            "sends_refused_429": channel.tg.flood_refusals if channel.tg else 0,
            "chats": len(chats),
        }
    else:
        phase["errors"] = dict(channel.errors)
    if run.fault is not None:
        began, over = run.fault["began"], run.fault["over"]
        phase["fault"] = {
            "name": args.fault,
            "at_s": round(began - run.started, 1),
            "until_s": round(over - run.started, 1),
            "before": window(turns, began - AROUND_FAULT, began),
            "during": window(turns, began, over),
            "after": window(turns, over, over + AROUND_FAULT),
            "p95_back_within_1s_after_s": recovery_seconds(rows, over - run.started, 1000.0),
            "conversations_across_it": across(run.conversations, began),
        }
        victim = run.fault.get("replica")
        if victim:
            replicas = run.fault["replicas"]
            on_victim = [
                c for c in run.conversations if home_replica(replicas, str(c.chat_id)) == victim
            ]
            phase["fault"]["conversations_across_it_on_the_killed_replica"] = across(
                on_victim, began
            )
    return phase


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if why := single_rasa_only(args.replicas):
        raise SystemExit(f"--replicas {args.replicas}: {why}")
    if not stack.MODEL.exists():
        raise SystemExit(f"no trained model at {stack.MODEL}: run 'make model' first")
    if not args.redis:
        os.environ.pop("REDIS_URL", None)  # only --redis gives the stack a Redis
    workdir = Path(tempfile.mkdtemp(prefix="ntsa-bench-"))
    print(f"work folder (logs, SQLite files): {workdir}", flush=True)
    phrases = load_phrases()
    needed = accounts_needed(args.rate, args.duration, len(args.phases))
    accounts_list = write_records(workdir / "records", needed)
    pool = itertools.cycle(accounts_list)
    people = itertools.count(1)
    phases: dict[str, dict[str, Any]] = {}
    async with contextlib.AsyncExitStack() as exits:
        app_db = await exits.enter_async_context(database(args, workdir))
        for command in (("migrate",), ("demo",), ("import", str(workdir / "records"))):
            await _cli(app_db, *command)
        stack_db = app_db
        proxy = None
        if args.fault == "db-outage":
            from sqlalchemy.engine import make_url

            url = make_url(app_db)
            proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
            await proxy.start()
            exits.push_async_callback(proxy.close)
            stack_db = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        redis_url = await exits.enter_async_context(
            redis_database(args.redis_url if args.redis else None)
        )
        channel = TelegramChannel()
        tg = await exits.enter_async_context(channel.emulator(token=TOKEN))
        if args.webhook:
            if not hasattr(tg, "deliver_webhooks"):
                raise SystemExit("--webhook: this Telegram emulator delivers no webhooks")
            tg.deliver_webhooks()
        stack_ = build_stack(args, workdir, stack_db, tg.base_url, redis_url)
        exits.push_async_callback(stack_.stop)
        print(
            f"starting actions, {args.replicas} Rasa replica(s) and the gateway "
            f"({args.database}{', Redis' if redis_url else ''}"
            f"{', webhook' if args.webhook else ', polling'}) …",
            flush=True,
        )
        await start_stack(stack_, channel)
        print(f"ready: {stack_.ready_s}", flush=True)
        shared = (["postgres"] if args.database == "postgresql" else []) + (
            ["redis"] if redis_url else []
        )
        sampler = ProcessSampler(stack_.pids, shared=shared)
        sampler_task = asyncio.create_task(sampler.run())
        exits.callback(sampler_task.cancel)
        rest = RestChannel(stack_.rasa_urls, stack.run_secrets()["GATEWAY_SIGNING_SECRET"])
        await rest.start()
        exits.push_async_callback(rest.close)
        rest.phase = "direct"

        # Both paths warm up, the direct one first: there answers come whole, and how many
        # messages make a whole answer is learnt (what the whole path's counts rest on).
        sizes = AnswerSizes()
        print("learning how many messages make each answer (Rasa direct) …", flush=True)
        await learn_sizes(rest, phrases, sizes, lambda: next(pool), people, args.seed)
        warm_rate = min(5.0, args.rate)
        for name in PHASES:
            warm = rest if name == "direct" else channel
            print(f"warm-up through {name} ({args.warmup:.0f} s) …", flush=True)
            warm.phase = f"warm-{name}"
            await run_phase(
                f"warm-{name}", warm, args, phrases, lambda: next(pool), people, sizes,
                warm_rate, args.warmup,
            )  # fmt: skip
        for name in args.phases:
            chosen = rest if name == "direct" else channel
            chosen.phase = name
            fault = None
            if name == "telegram" and args.fault != "none":
                ctx = FaultContext(stack_, channel, proxy, args.fault_seconds)

                async def fault_now(
                    ctx: FaultContext = ctx,
                ) -> tuple[float, float, dict[str, Any]]:
                    began, over = await inject(args.fault, ctx)
                    extra: dict[str, Any] = {}
                    if args.fault == "kill-replica":
                        extra = {"replica": ctx.details["replica"], "replicas": stack_.rasa_urls}
                    return began, over, extra

                fault = fault_now
            print(
                f"phase {name}: {args.rate:g} turns/s for {args.duration:g} s"
                f"{' with fault ' + args.fault if fault else ''} …",
                flush=True,
            )
            result = await run_phase(
                name, chosen, args, phrases, lambda: next(pool), people, sizes, args.rate,
                args.duration, fault,
            )  # fmt: skip
            phases[name] = figures(result, args, chosen, sampler, sizes, args.rate, args.duration)
            if fault is not None:
                phases[name]["fault"]["details"] = ctx.details
            base = CHAT_BASE[name]
            saved = await registrations_saved(app_db, base, base + 10_000_000)
            phases[name]["registrations"] = registration_check(result, saved)
            print_phase(name, phases[name])
    found = verdict(phases)
    print_verdict(found)
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("database_url", "redis_url")
        },
        "ready_s": stack_.ready_s,
        "workdir": str(workdir),
        "phases": phases,
        "targets": found,
    }


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    os.chdir(ROOT)
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    result = asyncio.run(run(args))
    if not args.keep:  # kept when the run failed, for its logs
        shutil.rmtree(result["workdir"], ignore_errors=True)
    fault = None
    whole = result["phases"].get("telegram")
    if whole is not None and "fault" in whole:
        fault = whole["fault"]
    data, picture = write(result, chart(result["phases"], fault), args.out)
    print(f"\nfigures: {data}\nchart:   {picture}")


if __name__ == "__main__":
    main()
