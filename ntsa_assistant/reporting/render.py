"""The report as the terminal shows it (a compact table) and as one HTML file with charts.

The HTML file is self-contained: its style sheet is inline, its charts are inline SVG
(:mod:`ntsa_assistant.reporting.charts`), it has no script and loads nothing, so it opens
offline and can be mailed as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

from jinja2 import Environment

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.reporting.charts import Series, day_series, line_chart
from ntsa_assistant.reporting.metrics import LANGUAGES, UNKNOWN_LANGUAGE
from ntsa_assistant.reporting.report import Report
from ntsa_assistant.reporting.unanswered import Group, plural

STATUS_LABELS = {
    "proven_contact": "proven by contact",
    "proven_code": "proven by code",
    "failed": "failed",
    "locked": "locked",
}
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", UNKNOWN_LANGUAGE: "unknown"}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def millis(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _split(counts: Counter[str]) -> str:
    """``en 30 · sw 12`` (an unknown language only when there is one)."""
    langs = [*LANGUAGES, *(k for k in counts if k not in LANGUAGES)]
    return " · ".join(
        f"{lang} {counts[lang]}" for lang in langs if lang in LANGUAGES or counts[lang]
    )


def _listed(counts: Counter[str], labels: dict[str, str] | None = None) -> str:
    if not counts:
        return "none"
    return " · ".join(f"{(labels or {}).get(key, key)} {n}" for key, n in counts.most_common())


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]


def summary(report: Report) -> list[tuple[str, str]]:
    """The headline figures, label and value, as both renderings show them."""
    t, c, f, h, a = (
        report.totals,
        report.containment,
        report.fallbacks,
        report.handoffs,
        report.agent,
    )
    typed = sum(f.typed.values())
    fallback_split = ", ".join(
        f"{lang} {percent(f.rate(lang))}" for lang in LANGUAGES if f.typed[lang]
    )
    ratings = " · ".join(f"{r}★ {a.ratings[r]}" for r in range(5, 0, -1) if a.ratings[r])
    failed = f" ({_listed(report.status_failed)})" if report.status_failed else ""
    return [
        ("Conversations", f"{t.conversations_total} ({_split(t.conversations)})"),
        ("People", f"{t.people_total} ({_split(t.people)})"),
        (
            "Containment",
            f"{percent(c.rate)} of {c.judged} judged (settled by the assistant alone, no return "
            f"within 7 days) · no person asked in {c.conversations - c.handed_off} of "
            f"{c.conversations} · back within 7 days {c.returned} · too recent to judge "
            f"{c.pending}",
        ),
        (
            "Fallback rate",
            f"{percent(f.rate())} of {typed} typed messages"
            + (f" ({fallback_split})" if fallback_split else ""),
        ),
        ("Handoffs", f"{h.total} ({percent(h.rate())} of conversations): {_listed(h.by_reason)}"),
        ("Handoff topics", _listed(h.by_topic)),
        (
            "First agent reply",
            f"median {duration(a.median_seconds)}, p90 {duration(a.p90_seconds)} in working "
            f"hours ({duration(a.wall_median_seconds)} by the clock) · answered {a.claimed} · "
            f"left before a reply {a.left_unclaimed} · waiting {a.still_waiting}",
        ),
        (
            "Rating",
            (f"{a.average_rating:.1f} of 5 from {a.rated} of {a.closed_done} asked ({ratings})")
            if a.average_rating is not None
            else f"none yet ({a.closed_done} asked)",
        ),
        (
            "Turn latency",
            f"p50 {millis(report.latency.p50_ms)}, p95 {millis(report.latency.p95_ms)} "
            f"over {report.latency.turns} turns (inside Rasa)",
        ),
        ("Status look-ups", _listed(report.status, STATUS_LABELS) + failed),
        ("Registrations", _listed(report.registrations)),
    ]


def text_report(report: Report, missed: Sequence[Group] = ()) -> str:
    """The compact terminal report."""
    p = report.period
    lines = [
        f"NTSA assistant report, {p.first} to {p.last} (Africa/Nairobi), "
        f"as of {report.generated_at.astimezone(NAIROBI):%Y-%m-%d %H:%M}",
        "",
    ]
    width = max(len(label) for label, _ in summary(report))
    lines += [f"{label:<{width}}  {value}" for label, value in summary(report)]
    active = [d for d in report.days if d.conversations_total]
    if active:
        lines += ["", "Per day (days with conversations)"]
        lines += _table(
            ("day", "conversations", "en", "sw", "people", "en", "sw"),
            [
                (
                    f"{d.day}",
                    str(d.conversations_total),
                    str(d.conversations["en"]),
                    str(d.conversations["sw"]),
                    str(d.people_total),
                    str(d.people["en"]),
                    str(d.people["sw"]),
                )
                for d in active
            ],
        )
    if report.topics:
        lines += ["", "Top topics (FAQ intents)"]
        lines += _table(
            ("intent", "asked", "en", "sw"),
            [(i, str(sum(c.values())), str(c["en"]), str(c["sw"])) for i, c in report.topics],
        )
    if report.seats:
        lines += ["", "Training sessions"]
        lines += _table(
            (
                "session",
                "starts",
                "lang",
                "capacity",
                "confirmed",
                "waitlist",
                "cancelled",
                "filled",
            ),
            [
                (
                    s.code,
                    f"{s.starts_at.astimezone(NAIROBI):%Y-%m-%d %H:%M}",
                    s.language,
                    str(s.capacity),
                    str(s.confirmed),
                    str(s.waitlisted),
                    str(s.cancelled),
                    percent(s.filled),
                )
                for s in report.seats
            ],
        )
    lines += ["", 'FAQ page "Did this help?"']
    lines += _table(
        ("topic", "yes", "no", "helped"),
        [
            (
                v.anchor,
                str(sum(v.helped.values())),
                str(sum(v.not_helped.values())),
                percent(v.rate),
            )
            for v in report.votes
        ],
    )
    if missed:
        count = sum(g.count for g in missed)
        lines += [
            "",
            f"Not understood: {plural(count, 'message')} in {plural(len(missed), 'group')} "
            "(ntsa-assistant report --unanswered lists them)",
        ]
    return "\n".join(lines)


# --- HTML -------------------------------------------------------------------------------------

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NTSA assistant report, {{ r.period.first }} to {{ r.period.last }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #1a1a1a; margin: 0 auto; max-width: 60rem;
  padding: 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.summary td, table.summary th { text-align: left; vertical-align: top; }
.chart { max-width: 100%; height: auto; font-family: system-ui, sans-serif; }
.note { color: #555; font-size: .9rem; }
figure { margin: 1rem 0; } figcaption { font-weight: 600; }
</style>
</head>
<body>
<h1>NTSA assistant report, {{ r.period.first }} to {{ r.period.last }}</h1>
<p class="note">Africa/Nairobi days; as of {{ generated }}. No personal data: people are
counted by a keyed hash of their chat, texts are masked.</p>
<table class="summary">
{% for label, value in summary %}<tr><th scope="row">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>

<h2>Per day, by language</h2>
{% for title, chart in charts %}<figure><figcaption>{{ title }}</figcaption>
{{ chart | safe }}</figure>
{% endfor %}

{% if r.topics %}<h2>Top topics</h2>
<table><tr><th>intent</th><th>asked</th><th>English</th><th>Kiswahili</th></tr>
{% for intent, c in r.topics %}<tr><td>{{ intent }}</td><td>{{ c.values() | sum }}</td>
<td>{{ c["en"] }}</td><td>{{ c["sw"] }}</td></tr>
{% endfor %}</table>{% endif %}

{% if r.seats %}<h2>Training sessions</h2>
<table><tr><th>session</th><th>title</th><th>starts</th><th>language</th><th>capacity</th>
<th>confirmed</th><th>waitlist</th><th>cancelled</th><th>filled</th></tr>
{% for s in r.seats %}<tr><td>{{ s.code }}</td><td>{{ s.title }}</td><td>{{ starts[s.code] }}</td>
<td>{{ s.language }}</td><td>{{ s.capacity }}</td><td>{{ s.confirmed }}</td>
<td>{{ s.waitlisted }}</td><td>{{ s.cancelled }}</td><td>{{ percent(s.filled) }}</td></tr>
{% endfor %}</table>{% endif %}

<h2>FAQ page: "Did this help?"</h2>
<table><tr><th>topic</th><th>yes</th><th>no</th><th>helped</th></tr>
{% for v in r.votes %}<tr><td>{{ v.anchor }}</td><td>{{ v.helped.values() | sum }}</td>
<td>{{ v.not_helped.values() | sum }}</td><td>{{ percent(v.rate) }}</td></tr>
{% endfor %}</table>

{% if missed %}<h2>What it missed</h2>
<p class="note">Messages not understood, grouped by similarity (masked).</p>
<table><tr><th>example</th><th>messages</th><th>people</th><th>languages</th></tr>
{% for g in missed %}<tr><td>{{ g.example }}</td><td>{{ g.count }}</td><td>{{ g.people }}</td>
<td>{{ languages(g.languages) }}</td></tr>
{% endfor %}</table>{% endif %}
</body>
</html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)


def charts(report: Report) -> list[tuple[str, str]]:
    """The per-day charts, each split by language: (title, SVG)."""
    days = [d.day for d in report.days]
    names = {lang: LANGUAGE_NAMES[lang] for lang in LANGUAGES}

    def by_language(values: dict[date, Counter[str]]) -> list[Series]:
        per = {day: {names[k]: float(c[k]) for k in LANGUAGES} for day, c in values.items()}
        return day_series(days, per, list(names.values()))

    fallback = {
        day: {names[k]: f.rate(k) for k in LANGUAGES} for day, f in report.fallback_days.items()
    }
    shown = [
        ("Conversations per day", by_language({d.day: d.conversations for d in report.days})),
        ("People per day", by_language({d.day: d.people for d in report.days})),
        (
            "Fallback rate of typed messages per day",
            day_series(days, fallback, list(names.values())),
        ),
        ("Handoffs opened per day", by_language(report.handoff_days)),
    ]
    return [
        (title, line_chart(title, days, series, percent=title.startswith("Fallback")))
        for title, series in shown
    ]


def html_report(report: Report, missed: Sequence[Group] = ()) -> str:
    """The whole report as one self-contained HTML page."""
    return _ENV.from_string(_TEMPLATE).render(
        r=report,
        generated=f"{report.generated_at.astimezone(NAIROBI):%Y-%m-%d %H:%M}",
        summary=summary(report),
        charts=charts(report),
        starts={s.code: f"{s.starts_at.astimezone(NAIROBI):%Y-%m-%d %H:%M}" for s in report.seats},
        percent=percent,
        missed=list(missed)[:20],
        languages=lambda counts: " · ".join(f"{k} {n}" for k, n in sorted(counts.items())),
    )
