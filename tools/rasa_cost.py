"""What one conversation turn costs Rasa and the action server: CPU time and latency.

Starts the real action server (on a fresh SQLite database with the demo records) and the
real Rasa server with a trained model, then sends turns straight to Rasa's REST channel
(``/webhooks/rest/webhook``; no gateway, no Telegram). Each turn comes from a sender of its
own, like a person's first message (``--turns-per-sender N``: conversations of N turns, one
after another). The mix: FAQ questions in English, Kiswahili and the mix taken from the
held-out set (nlu/tests/heldout/), with one status-check opening and one
training-registration opening in every ``--opening-every`` turns.

The primary figure is **CPU milliseconds per turn** (user + system time of each process and
its children, read from /proc before and after the measured turns): unlike wall-clock
throughput, it holds on a machine that other work keeps busy. Latency (p50, p95) is
measured too, one turn at a time by default. Nothing is asserted; this is a measuring tool.

Usage, from the repository root after ``make setup``::

    .venv/bin/python -m tools.rasa_cost                     # nlu/models/ntsa.tar.gz
    .venv/bin/python -m tools.rasa_cost --model /tmp/x.tar.gz --turns 300 --heldout
    .venv/bin/python -m tools.rasa_cost --rasa-env TF_INTRA_OP_PARALLELISM_THREADS=1
    .venv/bin/python -m tools.rasa_cost --profile var/rasa-cost/profile.svg  # needs py-spy

``--heldout`` also scores the model on the held-out set (tools/nlu_report.py) against the
same server; ``--profile FILE`` records Rasa with py-spy (``pip install py-spy`` into
.venv-rasa) during the measured turns (FILE ending ``.json``: speedscope, else a flame
graph); ``--rasa-env KEY=VALUE`` (repeatable) sets Rasa's environment, e.g. TensorFlow's
thread pools or ``SANIC_WORKERS``; ``--endpoints FILE`` replaces nlu/endpoints.yml (e.g. to
compare tracker stores); ``--json FILE`` writes the figures. Rasa's conversations go to an
SQLite file of the run's own, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

from tests.support.processes import free_port, rasa_api_params
from tools.nlu_report import Example, evaluate, heldout
from tools.stack import MODEL, RASA_VENV, ROOT, Service, actions_service, rasa_service

STATUS_OPENINGS = ("status_check", "status_validation", "status_pending", "status_organisation")
REGISTRATION_OPENINGS = ("training_register",)
READY_WITHIN = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Turn:
    kind: str  # "faq", "status" or "registration"
    text: str


@dataclass
class Figures:
    model: str
    turns: int
    concurrency: int
    turns_per_sender: int
    wall_s: float
    rasa_cpu_ms_per_turn: float
    actions_cpu_ms_per_turn: float
    p50_ms: float
    p95_ms: float
    p50_ms_by_kind: dict[str, float]
    turns_without_reply: int
    error_lines: dict[str, int]  # lines with "ERROR" in each process's log
    rasa_env: dict[str, str]
    endpoints: str
    heldout_accuracy: dict[str, float] = field(default_factory=dict)
    worst_intent: tuple[str, float] | None = None


def turn_mix(count: int, opening_every: int) -> list[Turn]:
    """``count`` turns: held-out FAQ questions in the three languages, in a fixed order,
    with a status-check and a registration opening in every ``opening_every`` turns."""
    examples = heldout()

    def texts(intents: tuple[str, ...] | None) -> list[Example]:
        chosen = [
            ex
            for ex in examples
            if (intents is None and ex.intent.startswith("faq_")) or ex.intent in (intents or ())
        ]
        # Interleave the languages so that any prefix of the mix has all three.
        by_lang = [[ex for ex in chosen if ex.lang == lang] for lang in ("en", "sw", "mixed")]
        return [ex for group in zip(*by_lang, strict=False) for ex in group]

    faq, status, registration = (
        texts(None),
        texts(STATUS_OPENINGS),
        texts(REGISTRATION_OPENINGS),
    )
    turns: list[Turn] = []
    counters: Counter[str] = Counter()
    for i in range(count):
        position = i % opening_every
        if position == opening_every // 2:
            kind, pool = "status", status
        elif position == opening_every - 1:
            kind, pool = "registration", registration
        else:
            kind, pool = "faq", faq
        turns.append(Turn(kind, pool[counters[kind] % len(pool)].text))
        counters[kind] += 1
    return turns


def prepare_database(workdir: Path) -> str:
    """A fresh SQLite database with the schema and the demo records (``ntsa-assistant``)."""
    url = f"sqlite+aiosqlite:///{workdir / 'assistant.db'}"
    cli = Path(sys.executable).parent / "ntsa-assistant"
    for command in ("migrate", "demo"):
        env = os.environ | {"DATABASE_URL": url}
        subprocess.run([str(cli), command], env=env, check=True, capture_output=True)
    return url


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (living or reaped)."""
    total_ticks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            # Fields after the command name (which may hold spaces): utime is the 14th field
            # of the line, i.e. index 11 after ")"; stime, cutime, cstime follow it.
            fields = stat.rsplit(")", 1)[1].split()
            total_ticks += sum(int(value) for value in fields[11:15])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_ticks / CLOCK_TICKS


async def send_turn(
    http: aiohttp.ClientSession, url: str, sender: str, text: str
) -> tuple[float, int]:
    """One user message; the latency in seconds and the number of replies."""
    body = {"sender": sender, "message": text, "metadata": {"channel": "rasa_cost"}}
    started = time.monotonic()
    async with http.post(f"{url}/webhooks/rest/webhook", json=body) as response:
        response.raise_for_status()
        replies = await response.json()
    return time.monotonic() - started, len(replies or [])


async def drive(
    url: str, turns: list[Turn], concurrency: int, run_id: str, per_sender: int = 1
) -> list[tuple[str, float, int]]:
    """Sends ``turns``, at most ``concurrency`` at a time: (kind, seconds, replies) each.

    Each run of ``per_sender`` consecutive turns comes from one sender, one after another
    (a person waits for the answer), so their conversation grows as a real one does.
    """
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

        async def conversation(first: int) -> list[tuple[str, float, int]]:
            sender, done = f"cost-{run_id}-{first}", []
            for turn in turns[first : first + per_sender]:
                async with limit:
                    seconds, replies = await send_turn(http, url, sender, turn.text)
                done.append((turn.kind, seconds, replies))
            return done

        runs = await asyncio.gather(
            *(conversation(first) for first in range(0, len(turns), per_sender))
        )
        return [result for run in runs for result in run]


def error_lines(log: Path | None) -> int:
    if log is None or not log.exists():
        return 0
    return sum(1 for line in log.read_text(errors="replace").splitlines() if "ERROR" in line)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    beside_rasa = RASA_VENV / "bin" / "py-spy"
    py_spy = shutil.which("py-spy") or (str(beside_rasa) if beside_rasa.exists() else None)
    if py_spy is None:
        print("py-spy not found (pip install py-spy into .venv-rasa): no profile", flush=True)
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    fmt = "speedscope" if output.suffix == ".json" else "flamegraph"
    argv = [py_spy, "record", "--pid", str(pid), "--output", str(output), "--format", fmt]
    argv += ["--rate", "200", "--subprocesses", "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
    try:
        profiler.wait(60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()


async def measure(args: argparse.Namespace, workdir: Path) -> Figures:
    db = prepare_database(workdir)
    actions_port, rasa_port = free_port(), free_port()
    actions = actions_service(
        actions_port, env={"DATABASE_URL": db, "LOG_LEVEL": "WARNING"}, log_path=workdir / "a.log"
    )
    rasa = rasa_service(
        rasa_port, f"http://127.0.0.1:{actions_port}", model=args.model, log_path=workdir / "r.log"
    )
    # Conversations in a file of this run (Rasa's SQL tracker store, nlu/endpoints.yml).
    rasa.env["TRACKER_STORE_URL"] = f"sqlite:///{workdir / 'rasa-trackers.db'}"
    rasa.env.update(args.rasa_env)
    if args.endpoints:
        rasa.argv[rasa.argv.index("--endpoints") + 1] = str(args.endpoints.resolve())
    url = f"http://127.0.0.1:{rasa_port}"
    services: list[Service] = [actions, rasa]
    run_id = f"{os.getpid()}-{int(time.time())}"
    try:
        for service in services:
            await service.start()
        await asyncio.gather(*(s.wait_ready(READY_WITHIN) for s in services))
        assert rasa.process is not None
        assert actions.process is not None
        await drive(url, turn_mix(args.warmup, args.opening_every), args.concurrency, "w" + run_id)

        turns = turn_mix(args.turns, args.opening_every)
        profiler = start_profiler(rasa.process.pid, args.profile) if args.profile else None
        rasa_before, actions_before = (
            cpu_seconds(rasa.process.pid),
            cpu_seconds(actions.process.pid),
        )
        started = time.monotonic()
        results = await drive(url, turns, args.concurrency, run_id, args.turns_per_sender)
        wall = time.monotonic() - started
        rasa_cpu = cpu_seconds(rasa.process.pid) - rasa_before
        actions_cpu = cpu_seconds(actions.process.pid) - actions_before
        stop_profiler(profiler)

        latencies = [seconds for _, seconds, _ in results]
        by_kind: dict[str, list[float]] = {}
        for kind, seconds, _ in results:
            by_kind.setdefault(kind, []).append(seconds)
        figures = Figures(
            model=str(args.model),
            turns=len(turns),
            concurrency=args.concurrency,
            turns_per_sender=args.turns_per_sender,
            wall_s=round(wall, 2),
            rasa_cpu_ms_per_turn=round(rasa_cpu * 1000 / len(turns), 1),
            actions_cpu_ms_per_turn=round(actions_cpu * 1000 / len(turns), 1),
            p50_ms=round(statistics.median(latencies) * 1000, 1),
            p95_ms=round(percentile(latencies, 0.95) * 1000, 1),
            p50_ms_by_kind={k: round(statistics.median(v) * 1000, 1) for k, v in by_kind.items()},
            turns_without_reply=sum(1 for _, _, replies in results if replies == 0),
            error_lines={s.name: error_lines(s.log_path) for s in services},
            rasa_env=dict(args.rasa_env),
            endpoints=str(args.endpoints or "nlu/endpoints.yml"),
        )
        if args.heldout:
            report = await evaluate(url, rasa_api_params()["token"])
            figures.heldout_accuracy = {k: round(v, 3) for k, v in report.accuracy.items()}
            worst = min(report.intents, key=lambda s: s.recall)
            figures.worst_intent = (worst.intent, round(worst.recall, 3))
        return figures
    finally:
        await asyncio.gather(*(s.stop() for s in reversed(services)))


def render(figures: Figures) -> str:
    lines = [
        f"model      {figures.model}",
        f"rasa env   {figures.rasa_env or '-'}; endpoints {figures.endpoints}",
        f"turns      {figures.turns} at concurrency {figures.concurrency},"
        f" {figures.turns_per_sender} per sender,"
        f" in {figures.wall_s:.1f} s ({figures.turns / figures.wall_s:.1f} turns/s)",
        f"CPU/turn   rasa {figures.rasa_cpu_ms_per_turn:.1f} ms,"
        f" actions {figures.actions_cpu_ms_per_turn:.1f} ms",
        f"latency    p50 {figures.p50_ms:.0f} ms, p95 {figures.p95_ms:.0f} ms;"
        f" p50 by kind {figures.p50_ms_by_kind}",
        f"no reply   {figures.turns_without_reply} turns; errors logged {figures.error_lines}",
    ]
    if figures.heldout_accuracy:
        lines.append(f"held-out   {figures.heldout_accuracy}, worst intent {figures.worst_intent}")
    return "\n".join(lines)


def env_pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--turns", type=int, default=300, help="measured turns (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured turns first")
    parser.add_argument("--concurrency", type=int, default=1, help="turns in flight at once")
    parser.add_argument(
        "--turns-per-sender", type=int, default=1, help="turns of one conversation (default 1)"
    )
    parser.add_argument(
        "--opening-every", type=int, default=20, help="one status and one registration opening"
    )
    parser.add_argument("--heldout", action="store_true", help="also score the held-out set")
    parser.add_argument("--profile", type=Path, help="py-spy output (.svg or .json)")
    parser.add_argument("--rasa-env", type=env_pair, action="append", default=[])
    parser.add_argument("--endpoints", type=Path, help="instead of nlu/endpoints.yml")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    args.rasa_env = dict(args.rasa_env)
    if not args.model.exists():
        sys.exit(f"no trained model at {args.model} (make model, or --model PATH)")
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="ntsa-rasa-cost-") as tmp:
        try:
            figures = asyncio.run(measure(args, Path(tmp)))
        except BaseException:
            with contextlib.suppress(OSError):
                print((Path(tmp) / "r.log").read_text()[-3000:], file=sys.stderr)
            raise
    print(render(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
