"""Every sentence the assistant says, in English and Kiswahili.

Texts live beside the feature that says them, in ``<feature>/locales/<lang>/<file>.toml``;
a key is ``<file>.<name>`` (nested
tables join with dots). Both languages carry the same keys (a unit test checks it).
Dates and times are spelled by Babel in the reader's language, in Nairobi time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

from babel.dates import format_date, format_datetime, format_time

from ntsa_assistant.core.clock import NAIROBI

Lang = Literal["en", "sw"]
LANGUAGES: tuple[Lang, ...] = ("en", "sw")
DEFAULT_LANGUAGE: Lang = "en"
_BABEL_LOCALE = {"en": "en_KE", "sw": "sw_KE"}


def _flatten(prefix: str, table: Mapping[str, object], into: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(name, value, into)
        else:
            into[name] = str(value)


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """All texts of one language, read once from the package's locale files."""
    texts: dict[str, str] = {}
    for entry in locale_files(lang):
        _flatten(entry.name.removesuffix(".toml"), tomllib.loads(entry.read_text("utf-8")), texts)
    return texts


def locale_files(lang: Lang) -> list[Traversable]:
    """Every ``<feature>/locales/<lang>/*.toml`` of the package, in a stable order."""
    package = resources.files("ntsa_assistant")
    found = [
        entry
        for feature in package.iterdir()
        if feature.is_dir() and (feature / "locales" / lang).is_dir()
        for entry in (feature / "locales" / lang).iterdir()
        if entry.name.endswith(".toml")
    ]
    return sorted(found, key=lambda entry: entry.name)


def normalise_language(value: str | None) -> Lang:
    """Anything unknown falls back to English."""
    code = value.lower()[:2] if value else ""
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def t(lang: str | None, key: str, **params: object) -> str:
    """The text ``key`` in ``lang``, with ``{placeholders}`` filled from ``params``."""
    texts = catalog(normalise_language(lang))
    try:
        template = texts[key]
    except KeyError:
        raise KeyError(f"no text {key!r} for language {lang!r}") from None
    return template.format(**params) if params else template


def has_text(lang: str | None, key: str) -> bool:
    return key in catalog(normalise_language(lang))


def spell_date(lang: str | None, day: date) -> str:
    """``Friday, 29 December 2023`` / ``Ijumaa, 29 Desemba 2023``."""
    return format_date(day, "full", locale=_BABEL_LOCALE[normalise_language(lang)])


def spell_datetime(lang: str | None, instant: datetime) -> str:
    """A day and a time, e.g. ``Monday, 18 January 2027, 10:00`` (Nairobi time)."""
    local = instant.astimezone(NAIROBI)
    locale = _BABEL_LOCALE[normalise_language(lang)]
    day = format_date(local.date(), "full", locale=locale)
    return f"{day}, {format_time(local, 'HH:mm', locale=locale)}"


def spell_short_datetime(lang: str | None, instant: datetime) -> str:
    """Short form for buttons, e.g. ``18 Jan, 10:00``."""
    local = instant.astimezone(NAIROBI)
    return format_datetime(local, "d MMM, HH:mm", locale=_BABEL_LOCALE[normalise_language(lang)])
