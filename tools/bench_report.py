"""What a load run reports: CPU and memory of every process (the whole process tree),
the printed table, the JSON figures and the latency-over-time chart under var/bench/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pygal
from pygal.style import Style

# Shared servers the stack may use: not ours alone (other work on the machine counts too).
SHARED_SERVERS = {"postgres": ("postgres",), "redis": ("redis-server",)}


# --- processes ------------------------------------------------------------------------------


@dataclass
class _Sample:
    at: float
    cpu: dict[str, float]  # seconds of CPU since the previous sample, per process
    rss: dict[str, float]  # MiB now, per process (tree)
    machine_busy: float  # cores busy since the previous sample (all processes)


@dataclass
class ProcessSampler:
    """Samples CPU time and resident memory of named process trees once a second.

    ``pids()`` says which process each name is now (a restarted one has a new pid).
    A process tree is the process and all its descendants; ``bench`` is this process
    alone (the load generator and the emulated Telegram).
    """

    pids: Callable[[], Mapping[str, int | None]]
    shared: Sequence[str] = ()
    interval: float = 1.0
    samples: list[_Sample] = field(default_factory=list)
    _seen: dict[int, float] = field(default_factory=dict)
    _machine: float | None = None
    _shared_pids: dict[str, list[int]] = field(default_factory=dict)
    _shared_at: float = 0.0

    def _cpu_of(self, process: psutil.Process) -> float:
        """CPU seconds of ``process`` since it was last looked at (all of it if new)."""
        times = process.cpu_times()
        total = times.user + times.system
        before = self._seen.get(process.pid, 0.0 if self.samples else total)
        self._seen[process.pid] = total
        return max(0.0, total - before)

    def _tree(self, pid: int, recursive: bool = True) -> tuple[float, float]:
        cpu = rss = 0.0
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)] if recursive else [root]
        except psutil.Error:
            return 0.0, 0.0
        for process in family:
            with contextlib.suppress(psutil.Error):
                cpu += self._cpu_of(process)
                rss += process.memory_info().rss / 2**20
        return cpu, rss

    def _shared(self) -> dict[str, list[int]]:
        now = time.monotonic()
        if now - self._shared_at > 10:
            self._shared_at = now
            found: dict[str, list[int]] = {name: [] for name in self.shared}
            for process in psutil.process_iter(["name"]):
                for name in self.shared:
                    if process.info["name"] in SHARED_SERVERS.get(name, ()):
                        found[name].append(process.pid)
            self._shared_pids = found
        return self._shared_pids

    def sample(self) -> None:
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        for name, pid in self.pids().items():
            if pid is not None:
                cpu[name], rss[name] = self._tree(pid, recursive=name != "bench")
        for name, pids in self._shared().items():
            cpu[name] = rss[name] = 0.0
            for pid in pids:
                c, r = self._tree(pid, recursive=False)
                cpu[name] += c
                rss[name] += r
        times = psutil.cpu_times()
        busy = times.user + times.system + getattr(times, "irq", 0) + getattr(times, "softirq", 0)
        busy += getattr(times, "nice", 0) + getattr(times, "steal", 0)
        machine = 0.0 if self._machine is None else busy - self._machine
        self._machine = busy
        self.samples.append(_Sample(time.monotonic(), cpu, rss, machine))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def between(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per process: CPU as % of one core, and mean / max RSS in MiB, within the window."""
        chosen = [s for s in self.samples if start < s.at <= end]
        seconds = max(end - start, 1e-9)
        names = sorted({name for s in chosen for name in s.cpu})
        table = {}
        for name in names:
            rss = [s.rss[name] for s in chosen if name in s.rss]
            table[name] = {
                "cpu_percent": round(sum(s.cpu.get(name, 0.0) for s in chosen) / seconds * 100, 1),
                "rss_mean_mib": round(sum(rss) / len(rss), 1) if rss else 0.0,
                "rss_max_mib": round(max(rss), 1) if rss else 0.0,
            }
        table["machine"] = {
            "cpu_percent": round(sum(s.machine_busy for s in chosen) / seconds * 100, 1),
            "cores": psutil.cpu_count() or 0,
        }
        return table


# --- print ----------------------------------------------------------------------------------


def _ms(value: object) -> str:
    return "-" if value is None else f"{float(value):.0f}"  # type: ignore[arg-type]


def print_phase(name: str, phase: Mapping[str, Any]) -> None:
    print(f"\n== {name}: {phase['title']}")
    print(
        f"   offered {phase['offered_rate']:.1f} turns/s for {phase['duration_s']:.0f} s: "
        f"{phase['turns']} turns sent ({phase['sent_rate']:.1f}/s), answered "
        f"{phase['answered_rate']:.1f}/s"
    )
    print(
        f"   replies lost {phase['lost']}, duplicated {phase['duplicated']}, incomplete "
        f"{phase['incomplete']} ({phase['not_checked_for_duplicates']} answers of unknown size "
        "not checked for duplicates)"
    )
    drain = phase["drain"]
    print(f"   after the schedule: waited {drain['seconds']:g} s for answers ({drain['ended']})")
    print(f"   {'kind':13s} {'turns':>6s}   first p50/p95/p99 ms     whole p50/p95/p99 ms")
    for kind, row in phase["latency"].items():
        first, whole = row["first"], row["whole"]
        print(
            f"   {kind:13s} {whole['count']:6d}   "
            f"{_ms(first['p50']):>6s} {_ms(first['p95']):>6s} {_ms(first['p99']):>6s}      "
            f"{_ms(whole['p50']):>6s} {_ms(whole['p95']):>6s} {_ms(whole['p99']):>6s}"
        )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(phase["conversations"].items()))
    print(f"   conversations: {outcomes}")
    replies = ", ".join(f"{k} {v}" for k, v in sorted(phase["replies"].items()))
    print(f"   replies read: {replies}")
    print(f"   {'process':14s} {'CPU %':>7s} {'RSS MiB':>9s} {'max':>7s}")
    for proc, row in phase["processes"].items():
        if proc == "machine":
            print(f"   {'machine':14s} {row['cpu_percent']:7.1f}   (of {row['cores']} cores x 100)")
            continue
        print(
            f"   {proc:14s} {row['cpu_percent']:7.1f} {row['rss_mean_mib']:9.0f} "
            f"{row['rss_max_mib']:7.0f}"
        )
    lag = phase["generator"]
    print(
        f"   load generator: schedule lag mean {lag['mean_ms']} ms, max {lag['max_ms']} ms, "
        f"{lag['later_than_10ms']} of {lag['due_turns']} turns later than 10 ms"
    )
    for key in ("telegram", "errors", "registrations"):
        if phase.get(key):
            print(f"   {key}: {json.dumps(phase[key], ensure_ascii=False)}")
    if "fault" in phase:
        print_fault(phase["fault"])


def print_fault(fault: Mapping[str, Any]) -> None:
    print(
        f"   fault {fault['name']}: from {fault['at_s']:g} s to {fault['until_s']:g} s; "
        f"{json.dumps(fault.get('details', {}), ensure_ascii=False)}"
    )
    print(f"     {'turns sent':12s} {'turns':>5s} {'lost':>4s} {'dup':>4s} {'part':>4s}"
          f"   p50/p95/p99 ms         replies")  # fmt: skip
    for name in ("before", "during", "after"):
        row = fault[name]
        whole = row["whole"]
        replies = ", ".join(f"{k} {v}" for k, v in sorted(row["replies"].items()))
        print(
            f"     {name:12s} {row['turns']:5d} {row['lost']:4d} {row['duplicated']:4d} "
            f"{row['incomplete']:4d}   {_ms(whole['p50']):>6s} {_ms(whole['p95']):>6s} "
            f"{_ms(whole['p99']):>6s}   {replies}"
        )
    print(f"     p95 back within 1 s: {fault['p95_back_within_1s_after_s']} s after the fault")
    for key in ("conversations_across_it", "conversations_across_it_on_the_killed_replica"):
        if key in fault:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(fault[key].items()))
            print(f"     {key.replace('_', ' ')}: {outcomes or 'none'}")


def print_verdict(found: Mapping[str, Any]) -> None:
    if not found:
        return
    print("\n== targets (whole path)")
    for name, row in found.items():
        mark = {True: "met", False: "NOT met", None: "n/a (a phase did not keep up)"}[row["met"]]
        print(f"   {name:26s} {row['value']!s:>10s}  target {row['target']!s:>8s}  {mark}")


# --- write ----------------------------------------------------------------------------------


SHORT_TITLES = {"direct": "Rasa direct", "telegram": "whole path"}
_Y_TICKS_MS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000, 120_000)


def chart(phases: Mapping[str, Mapping[str, Any]], fault: Mapping[str, Any] | None) -> str:
    """Latency over time: per second since each phase started, the p50 / p95 / p99 of the
    whole answers to the turns sent in that second (log scale), the targets, the fault."""
    shades = {"direct": ("#08519c", "#4292c6", "#9ecae1"), "telegram": ("#a50f15", "#ef3b2c",
              "#fc9272")}  # fmt: skip
    colors: list[str] = []
    series: list[tuple[str, list[tuple[float, float | None] | None], dict[str, Any]]] = []
    lowest, highest, last = 100.0, 1000.0, 10
    for name, phase in phases.items():
        for shade, q in enumerate(("p50", "p95", "p99")):
            points = [(row["t"], row[q]) for row in phase["timeline"] if row[q]]
            for _, ms in points:
                lowest, highest = min(lowest, ms), max(highest, ms)
            last = max([last, *(t for t, _ in points)])
            log_points: list[tuple[float, float | None] | None] = [
                (t, math.log10(max(ms, 1.0))) for t, ms in points
            ]
            series.append((f"{SHORT_TITLES.get(name, name)} {q}", log_points, {}))
            colors.append(shades.get(name, shades["direct"])[shade])
    dashed = {"stroke_style": {"width": 2, "dasharray": "10,3"}}
    for target in (1000.0, 2000.0):
        label = f"target p{95 if target == 1000 else 99} {target / 1000:g} s"
        series.append((label, [(0, math.log10(target)), (last, math.log10(target))], dashed))
        colors.append("#31a354")
    if fault is not None:
        bottom, top = math.log10(lowest) - 0.1, math.log10(highest) + 0.1
        start, end = float(fault["at_s"]), float(fault["until_s"])
        label = f"{fault['name']} {start:.0f}–{end:.0f} s"
        edges = [(start, bottom), (start, top), None, (end, bottom), (end, top)]
        series.append((label, edges, {"stroke_style": {"width": 2}}))
        colors.append("#e6550d")
    ticks = [math.log10(ms) for ms in _Y_TICKS_MS if lowest / 2 <= ms <= highest * 2] or [2.0, 3.0]
    style = Style(background="white", plot_background="white", colors=tuple(colors))
    plot = pygal.XY(
        title="Latency of whole answers, by second the turns were sent",
        x_title="seconds since the phase started",
        y_title="milliseconds (log scale)",
        show_dots=False,
        allow_interruptions=True,
        stroke_style={"width": 1.5},
        style=style,
        width=1100,
        height=640,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        margin_bottom=56,
        truncate_legend=-1,
        y_labels=ticks,
        value_formatter=lambda v: f"{10**v:,.0f}",
        x_labels=list(range(0, int(last) + 1, max(5, (int(last) // 10) // 5 * 5 or 5))),
        show_minor_y_labels=True,
    )
    for label, points, options in series:
        plot.add(label, points, **options)
    return str(plot.render(is_unicode=True))


def write(figures: Mapping[str, Any], svg: str, directory: Path) -> tuple[Path, Path]:
    """``bench-<time>.json`` and ``.svg`` under ``directory``, copied to ``latest.*``."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = directory / f"bench-{stamp}.json"
    picture = directory / f"bench-{stamp}.svg"
    data.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", "utf-8")
    picture.write_text(svg, "utf-8")
    shutil.copyfile(data, directory / "latest.json")
    shutil.copyfile(picture, directory / "latest.svg")
    return data, picture
