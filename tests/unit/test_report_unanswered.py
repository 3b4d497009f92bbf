"""What the assistant missed: which messages count, how they group, the terminal list and
the Rasa NLU draft."""

from __future__ import annotations

from datetime import date, datetime
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.reporting import unanswered
from ntsa_assistant.reporting.metrics import Event, Period
from ntsa_assistant.reporting.unanswered import Missed, Source
from ntsa_assistant.storage.models import EventKind

PERIOD = Period(date(2026, 12, 1), date(2026, 12, 3))
WHEN = datetime(2026, 12, 2, 10, 0, tzinfo=NAIROBI)


def miss(text: str, lang: str = "en", chat: str = "c") -> Missed:
    return Missed(text, lang, chat, Source.FALLBACK)


def test_missed_messages_are_fallbacks_misses_handoffs_and_unlisted_topics() -> None:
    events = [
        Event(WHEN, EventKind.TURN, chat="a", language="en", fell_back=True, text="renew DL"),
        Event(WHEN, EventKind.TURN, chat="a", language="en", fell_back=False, text="kept?"),
        Event(WHEN, EventKind.TURN, chat="a", language="en", fell_back=True),  # a button
        Event(WHEN, EventKind.TURN, chat="a", language="en", fell_back=True, text="Renew DL!"),
        Event(WHEN, EventKind.TURN, chat="b", language="en", fell_back=True, text="renew DL"),
        Event(WHEN, EventKind.HANDOFF_OPENED, chat="c", language="sw", text="leseni yangu"),
        Event(WHEN, EventKind.HANDOFF_QUEUED, chat="d", language=None, text="my car was sold"),
        Event(WHEN, EventKind.STATUS, chat="e", text="not a miss"),
        Event(datetime(2026, 12, 4, tzinfo=NAIROBI), EventKind.TURN, fell_back=True, text="late"),
    ]
    assert unanswered.missed(events, PERIOD) == [
        Missed("renew DL", "en", "a", Source.FALLBACK),  # and "Renew DL!" is the same again
        Missed("renew DL", "en", "b", Source.FALLBACK),
        Missed("leseni yangu", "sw", "c", Source.MISSES),
        Missed("my car was sold", "?", "d", Source.UNLISTED),
    ]


def test_normalise_drops_case_accents_punctuation_and_masked_numbers() -> None:
    assert unanswered.normalise("Renew  my DL, ****!") == "renew my dl #"
    assert unanswered.normalise("Café—où?") == "cafe ou"


def test_similar_messages_group_the_largest_first() -> None:
    items = [
        miss("how do I renew my driving licence", chat="a"),
        miss("how do i renew my driving license?", chat="b"),
        miss("renew driving licence", chat="c"),
        miss("nataka kurenew DL yangu", "sw", chat="d"),
        miss("my ID **** is not working", chat="e"),
        miss("my id **** not working", chat="f"),
        miss("my id **** not working", chat="g"),
        miss("where is the NTSA office in Kisumu", chat="h"),
    ]
    groups = unanswered.group(items)
    assert [(g.count, g.people, dict(g.languages), sorted(g.texts)) for g in groups] == [
        (
            3,
            3,
            {"en": 3},
            [
                "how do I renew my driving licence",
                "how do i renew my driving license?",
                "renew driving licence",
            ],
        ),
        (3, 3, {"en": 3}, ["my ID **** is not working", "my id **** not working"]),
        (1, 1, {"sw": 1}, ["nataka kurenew DL yangu"]),
        (1, 1, {"en": 1}, ["where is the NTSA office in Kisumu"]),
    ]
    assert groups[1].example == "my id **** not working"  # the most frequent text


def test_the_terminal_list_shows_counts_languages_and_examples() -> None:
    groups = unanswered.group([miss("renew DL", chat="a"), miss("renew DL?", "sw", chat="b")])
    assert unanswered.format_groups(groups, PERIOD) == [
        "What the assistant missed, 2026-12-01 to 2026-12-03: 2 messages in 1 group (masked)",
        "count  people  languages    example",
        "    2       2  en 1 sw 1    renew DL",
        "                            renew DL?",
    ]
    assert unanswered.format_groups([], PERIOD) == [
        "What the assistant missed, 2026-12-01 to 2026-12-03: 0 messages in 0 groups (masked)"
    ]


def test_the_nlu_draft_is_rasa_training_data_to_label(tmp_path: Path) -> None:
    groups = unanswered.group(
        [
            miss("renew DL", chat="a"),
            miss("renew DL please", chat="b"),
            miss("[see](this) {x}: ofisi iko wapi", "sw", chat="c"),
        ]
    )
    path = tmp_path / "drafts" / "missed.yml"
    unanswered.write_nlu_draft(groups, path)
    text = path.read_text("utf-8")
    data = YAML(typ="safe").load(StringIO(text))
    assert data == {
        "version": "3.1",
        "nlu": [
            {"intent": "label_me_01", "examples": "- renew DL\n- renew DL please\n"},
            # Rasa would read [text](entity) as an annotation: brackets become parentheses
            {"intent": "label_me_02", "examples": "- (see)(this) (x): ofisi iko wapi\n"},
        ],
    }
    assert "# 2 message(s) from 2 chat(s); en 2\n- intent: label_me_01" in text


def test_function_words_do_not_make_two_questions_alike() -> None:
    groups = unanswered.group(
        [
            miss("how do I pay for my logbook", chat="a"),
            miss("how do I pay for my licence", chat="b"),
            miss("my logbook for KDA 123X has a wrong chassis number", chat="c"),
            miss("the logbook of my car shows the wrong chassis", chat="d"),
        ]
    )
    assert sorted(sorted(g.texts) for g in groups) == [
        ["how do I pay for my licence"],
        ["how do I pay for my logbook"],
        [
            "my logbook for KDA 123X has a wrong chassis number",
            "the logbook of my car shows the wrong chassis",
        ],
    ]
