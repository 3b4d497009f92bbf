"""The agents' desk under load, measured (not asserted): ``make bench-desk``.

Runs the real gateway against the Telegram emulator, which refuses (429) a bot's 21st
message within any minute in one group, as Telegram does. Several people hand off to one
desk group and keep writing at several times what the group may receive; an agent answers
now and then. Reports how many messages a minute the desk group received, how many calls
Telegram refused, whether every person's text arrived (alone or merged), how long texts
waited (person → desk) and how long an agent's reply took (desk → person).

Rasa is not started: a stand-in answers the gateway's readiness check (the gateway takes no
update before a Rasa is ready) and refuses every turn, so ``/agent`` starts the handoff
without the last turns (the gateway's fallback), which keeps the measurement to the desk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.fake_rasa import FakeRasaReplica, ReplicaServer
from tests.support.telegram_emulator import TelegramEmulator
from tools.bench import percentile, port, prepare_database
from tools.stack import ROOT, gateway_service, run_secrets

DESK = -1_001_234_567_890
TOKEN = "123456:DESK"
PERSON_BASE = 5_000_001


def desk_texts(tg: TelegramEmulator) -> str:
    """Everything the desk group shows: merged texts, and the texts of copied messages."""
    parts = []
    for record in tg.outbox(DESK):
        parts.append(record.get("plain_text") or record.get("text") or "")
        copied = record.get("copied_from")
        if copied:
            parts.append(tg.message(copied["chat_id"], copied["message_id"]).get("text", ""))
    return "\n".join(parts)


async def main(workdir: Path, db: str, people: int, per_minute: int, seconds: int) -> None:
    no_rasa = FakeRasaReplica("none", run_secrets()["RASA_AUTH_TOKEN"])
    no_rasa.error_status = 503
    stand_in = ReplicaServer(no_rasa, port(6999))
    await stand_in.start()
    async with TelegramEmulator(token=TOKEN) as tg:
        tg.add_group(DESK, "NTSA desk", is_forum=True)
        tg.group_rate_limit(20, 60)
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": tg.base_url,
            "RASA_URL": stand_in.url,
            "RASA_TIMEOUT_SECONDS": "1",
            "DATABASE_URL": db,
            "LOG_LEVEL": "WARNING",
            "SUPPORT_CHAT_ID": str(DESK),
            "SUPPORT_HOURS": "Mon-Sun 00:00-24:00",
            "ASSISTANT_NOW": "2026-12-07T10:00:00+03:00",
            "CHAT_BURST_MESSAGES": "1000",
            "GATEWAY_STATE_PATH": str(workdir / "bot.pickle"),
        }
        bot = gateway_service(env=env, log_path=workdir / "b.log")
        await bot.start()
        try:
            await tg.wait_until_polling(timeout=60)
            persons = [PERSON_BASE + n for n in range(people)]
            for person in persons:
                tg.set_user(person, first_name=f"Person{person % 100}", language_code="en")
                tg.push_command(person, "/agent")
                await tg.wait_for_messages(person, count=1, timeout=30)
                tg.press_button(person, "Something else")
                await tg.wait_for_messages(person, count=1, timeout=30)
            started = time.monotonic()
            sent: dict[str, float] = {}
            arrived: dict[str, float] = {}
            replies: list[float] = []
            interval = 60 / per_minute
            count = 0
            while time.monotonic() - started < seconds:
                person = persons[count % people]
                token = f"msg-{count:05d}"
                tg.push_text(person, f"{token} my logbook transfer is still pending")
                sent[token] = time.monotonic()
                count += 1
                if count % 15 == 0:  # an agent answers the first person now and then
                    threads = {t["name"]: t["message_thread_id"] for t in tg.topics(DESK)}
                    thread = next(iter(threads.values()), None)
                    if thread is not None:
                        tg.mark(persons[0])
                        asked = time.monotonic()
                        tg.push_group_message(DESK, f"agent reply {count}", thread_id=thread)
                        await tg.wait_for_messages(persons[0], count=1, timeout=30)
                        replies.append(time.monotonic() - asked)
                seen = desk_texts(tg)
                now = time.monotonic()
                for waiting in [t for t in sent if t not in arrived and t in seen]:
                    arrived[waiting] = now
                await asyncio.sleep(interval)
            deadline = time.monotonic() + 120
            while len(arrived) < len(sent) and time.monotonic() < deadline:
                seen = desk_texts(tg)
                now = time.monotonic()
                for waiting in [t for t in sent if t not in arrived and t in seen]:
                    arrived[waiting] = now
                await asyncio.sleep(0.2)
            report(tg, sent, arrived, replies, time.monotonic() - started)
        finally:
            await bot.stop()
            await stand_in.stop()


def report(
    tg: TelegramEmulator,
    sent: dict[str, float],
    arrived: dict[str, float],
    replies: list[float],
    elapsed: float,
) -> None:
    made = [c for c in tg.calls() if c.params.get("chat_id") == DESK and c.status == 200]
    messages = [c for c in made if c.method in ("sendMessage", "copyMessage", "createForumTopic")]
    refused = [c for c in tg.rejected() if c.params.get("chat_id") == DESK]
    merged = [r for r in tg.outbox(DESK) if (r.get("plain_text") or "").count("msg-") > 1]
    waits = [arrived[t] - sent[t] for t in arrived]
    print(f"offered: {len(sent)} person texts in {elapsed:.0f} s into one desk group")
    print(
        f"desk group received {len(messages)} messages"
        f" ({len(messages) / elapsed * 60:.1f} a minute); Telegram refused {len(refused)} calls"
    )
    print(
        f"person texts arrived: {len(arrived)} of {len(sent)}"
        f" ({len(merged)} merged messages carried several)"
    )
    if waits:
        print(
            f"person → desk: p50 {statistics.median(waits):.1f} s,"
            f" p95 {percentile(waits, 0.95):.1f} s, max {max(waits):.1f} s"
        )
    if replies:
        print(
            f"desk → person: p50 {statistics.median(replies) * 1000:.0f} ms,"
            f" max {max(replies) * 1000:.0f} ms ({len(replies)} agent replies)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--per-minute", type=int, default=60, help="person texts a minute")
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="ntsa-bench-desk-"))
    asyncio.run(
        main(workdir, prepare_database(workdir), args.people, args.per_minute, args.seconds)
    )
