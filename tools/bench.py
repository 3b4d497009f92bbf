"""Speed and memory of the whole stack, measured (not asserted): ``make bench``.

Starts the real action server, Rasa server and gateway against the Telegram emulator,
then reports: each process's time to ready and resident memory (the whole process tree),
and the end-to-end latency of FAQ turns (push an update → the bot's sendMessage), one
chat at a time and many chats at once. Bounded: a fixed number of turns on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import ROOT, Service, actions_service, gateway_service, rasa_service

QUESTIONS = [
    "When does TIMS close?",
    "TIMS itafungwa lini?",
    "how do I log in after TIMS closes",
    "nina maombi ambayo hayajakamilika kwenye TIMS",
    "are the trainings free?",
    "nawezaje kuunganisha kampuni yangu na KRA PIN",
]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total_kib = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total_kib += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
        pending.extend(int(c) for c in children)
    return total_kib / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_start(service: Service) -> float:
    started = time.monotonic()
    await service.start()
    await service.wait_ready(300)
    return time.monotonic() - started


async def turn(tg: TelegramEmulator, chat_id: int, text: str) -> float:
    started = time.monotonic()
    tg.push_text(chat_id, text)
    await tg.wait_for_messages(chat_id, count=1, timeout=30)
    return time.monotonic() - started


def prepare_database(workdir: Path) -> str:
    """A fresh SQLite database with the schema and the demo records."""
    db = f"sqlite+aiosqlite:///{workdir}/bench.db"
    cli = Path(sys.executable).parent / "ntsa-assistant"
    env = os.environ | {"DATABASE_URL": db}
    for command in ("migrate", "demo"):
        subprocess.run([str(cli), command], env=env, check=True, capture_output=True)
    return db


def port(base: int) -> int:
    """Ports clear of a running ``make run``."""
    return base + os.getpid() % 500


async def main(workdir: Path, db: str, turns: int, concurrency: int) -> None:
    async with TelegramEmulator(token="123456:BENCH") as tg:
        actions = actions_service(port(6055), env={"DATABASE_URL": db}, log_path=workdir / "a.log")
        rasa = rasa_service(
            port(6005), f"http://127.0.0.1:{port(6055)}", log_path=workdir / "r.log"
        )
        bot_env = {
            "TELEGRAM_BOT_TOKEN": "123456:BENCH",
            "TELEGRAM_BASE_URL": tg.base_url,
            "RASA_URL": f"http://127.0.0.1:{port(6005)}",
            "DATABASE_URL": db,
            "LOG_LEVEL": "WARNING",
        }
        bot = gateway_service(env=bot_env, log_path=workdir / "b.log")
        services = [actions, rasa, bot]
        try:
            ready = {
                "actions": await timed_start(actions),
                "rasa": await timed_start(rasa),
            }
            started = time.monotonic()
            await bot.start()
            await tg.wait_until_polling(timeout=60)
            ready["bot"] = time.monotonic() - started

            await turn(tg, 1, QUESTIONS[0])  # warm-up
            # One question per chat: a person does not send 30 in a row (the gateway would
            # tell them to slow down), so each turn comes from a chat of its own.
            sequential = [
                await turn(tg, 100 + i, QUESTIONS[i % len(QUESTIONS)]) for i in range(turns)
            ]

            started = time.monotonic()
            burst = await asyncio.gather(
                *(turn(tg, 1000 + i, QUESTIONS[i % len(QUESTIONS)]) for i in range(concurrency))
            )
            burst_seconds = time.monotonic() - started

            print("process   ready_s   rss_MiB")
            for s in services:
                print(f"{s.name:8s} {ready[s.name]:7.1f} {rss_mib(s.process.pid):9.0f}")
            print(
                f"\nsequential FAQ turns ({turns}):"
                f" p50 {statistics.median(sequential) * 1000:.0f} ms,"
                f" p95 {percentile(sequential, 0.95) * 1000:.0f} ms,"
                f" max {max(sequential) * 1000:.0f} ms"
            )
            print(
                f"{concurrency} chats at once: all answered in {burst_seconds:.1f} s,"
                f" p50 {statistics.median(burst) * 1000:.0f} ms,"
                f" p95 {percentile(burst, 0.95) * 1000:.0f} ms"
                f" ({concurrency / burst_seconds:.1f} turns/s)"
            )
        finally:
            await asyncio.gather(*(s.stop() for s in reversed(services)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="ntsa-bench-"))
    asyncio.run(main(workdir, prepare_database(workdir), args.turns, args.concurrency))
