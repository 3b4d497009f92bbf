"""The report as the terminal prints it and as one self-contained HTML file with charts."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.reporting import unanswered
from ntsa_assistant.reporting.charts import Series, line_chart
from ntsa_assistant.reporting.metrics import Seats
from ntsa_assistant.reporting.render import html_report, text_report
from ntsa_assistant.reporting.report import Report, compile_report
from tests.unit.test_report_metrics import DATA_END, HOURS, PERIOD, RECORD, at


@pytest.fixture(scope="module")
def report() -> Report:
    return compile_report(
        RECORD,
        PERIOD,
        data_end=DATA_END,
        hours=HOURS,
        seats=[Seats("S1", "Dealers <and> banks", "en", at(10, 9), 40, 30, 2, 1)],
        votes=[("closure", "en", True), ("closure", "sw", False)],
        generated_at=datetime(2026, 12, 9, 18, 0, tzinfo=NAIROBI),
    )


def test_the_terminal_report_is_a_compact_table(report: Report) -> None:
    groups = unanswered.group(unanswered.missed(report.events, PERIOD))
    lines = text_report(report, groups).splitlines()
    assert lines[0] == (
        "NTSA assistant report, 2026-12-01 to 2026-12-03 (Africa/Nairobi), as of 2026-12-09 18:00"
    )
    assert lines[2:13] == [
        "Conversations      7 (en 4 · sw 3)",
        "People             6 (en 4 · sw 2)",
        "Containment        33% of 6 judged (settled by the assistant alone, no return within 7 "
        "days) · no person asked in 5 of 7 · back within 7 days 2 · too recent to judge 1",
        "Fallback rate      30% of 10 typed messages (en 17%, sw 50%)",
        "Handoffs           2 (29% of conversations): misses 1 · asked 1",
        "Handoff topics     other 1 · login 1",
        "First agent reply  median 17 min, p90 17 min in working hours (15 h 17 min by the "
        "clock) · answered 1 · left before a reply 1 · waiting 0",
        "Rating             4.0 of 5 from 1 of 1 asked (4★ 1)",
        "Turn latency       p50 55 ms, p95 90 ms over 11 turns (inside Rasa)",
        "Status look-ups    proven by contact 1 · failed 1 · locked 1 (wrong_code 1)",
        "Registrations      seated 1 · promoted 1",
    ]
    text = "\n".join(lines)
    assert (
        "day         conversations  en  sw  people  en  sw\n"
        "2026-12-01              3   1   2       2   1   1\n"
        "2026-12-02              2   1   1       2   1   1\n"
        "2026-12-03              2   2   0       2   2   0\n"
    ) in text
    assert "faq_closure       3   2   1\n" in text
    assert (
        "S1       2026-12-10 09:00    en        40         30         2          1     75%" in text
    )
    assert "closure                    1   1     50%" in text
    assert lines[-1] == (
        "Not understood: 3 messages in 2 groups (ntsa-assistant report --unanswered lists them)"
    )


def test_the_html_report_is_self_contained_with_its_charts(report: Report) -> None:
    page = html_report(report)
    assert not re.search(r"https?:", page)  # nothing to fetch: no URL at all
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|@import|url\(", page)
    charts = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert [re.findall(r"<title>(.*?)</title>", chart)[0] for chart in charts] == [
        "Conversations per day",
        "People per day",
        "Fallback rate of typed messages per day",
        "Handoffs opened per day",
    ]
    conversations = charts[0]
    # one point per day and language, split by language
    assert "<title>English, 01 Dec: 1</title>" in conversations
    assert "<title>Kiswahili, 01 Dec: 2</title>" in conversations
    assert "<title>English, 03 Dec: 2</title>" in conversations
    assert "<title>Kiswahili, 02 Dec: 100%</title>" in charts[2]
    assert "Dealers &lt;and&gt; banks" in page  # escaped
    assert '<th scope="row">Containment</th>' in page


def test_a_chart_without_values_draws_axes_and_no_line() -> None:
    svg = line_chart("Nothing yet", [at(1, 0).date()], [Series("English", [None])])
    assert "<polyline" not in svg
    assert "<circle" not in svg
    assert ">English</text>" in svg
