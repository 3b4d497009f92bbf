"""Small SVG charts for the HTML report: one value per day, one line per series.

Written out as inline ``<svg>`` markup (no script, no style sheet, nothing fetched), so the
report stays one file that opens offline. Series are told apart by colour and by dash, and
every point carries a ``<title>`` with its exact value, which browsers show on hover and
screen readers read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH, HEIGHT = 720, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 32, 16, 44
# Colour-blind-safe pair (Okabe-Ito blue and vermilion), then a neutral.
_STYLES = (("#0072B2", ""), ("#D55E00", "6 4"), ("#555555", "2 3"))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per day; None: nothing to show that day


def _nice_top(peak: float, percent: bool) -> float:
    """The axis' top: four equal whole steps of 1, 2, 2.5 or 5 × 10ⁿ (a share: tenths)."""
    if percent:
        return 1.0 if peak <= 0 else min(1.0, math.ceil(peak * 10) / 10)
    raw = max(peak / 4, 1.0)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        tick = multiple * magnitude
        if tick >= raw and tick == int(tick):
            return 4 * tick
    return 40 * magnitude  # pragma: no cover


def _label(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def line_chart(
    title: str, days: Sequence[date], series: Sequence[Series], *, percent: bool = False
) -> str:
    """An SVG line chart of ``series`` over ``days`` (a value per day), with its legend."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_top(max(values, default=0.0), percent)
    step = plot_w / max(1, len(days) - 1)

    def x(index: int) -> float:
        return _LEFT + (index * step if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return _TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_label(value, percent)}</text>"
        )
    every = max(1, math.ceil(len(days) / 10))
    for index, day in enumerate(days):
        if (len(days) - 1 - index) % every == 0:  # counted from the last day, always shown
            parts.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11">{day:%d %b}</text>'
            )
    for number, one in enumerate(series):
        colour, dash = _STYLES[number % len(_STYLES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        points = [(i, v) for i, v in enumerate(one.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                f"{dashes}/>"
            )
        for i, v in points:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(one.name)}, {days[i]:%d %b}: {_label(v, percent)}</title>"
                "</circle>"
            )
        legend_x = _LEFT + number * 140
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{HEIGHT - 10}" y2="{HEIGHT - 10}" '
            f'stroke="{colour}" stroke-width="2"{dashes}/>'
            f'<text x="{legend_x + 30}" y="{HEIGHT - 6}" font-size="12">{escape(one.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def day_series(
    days: Sequence[date], per_day: Mapping[date, Mapping[str, float | None]], names: Sequence[str]
) -> list[Series]:
    """One series per name from ``{day: {name: value}}`` (a missing value is None)."""
    return [Series(name, [per_day.get(day, {}).get(name) for day in days]) for name in names]
