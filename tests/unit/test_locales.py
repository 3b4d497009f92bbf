"""Every text exists in English and Kiswahili, with the same placeholders."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest

from ntsa_assistant.core.i18n import LANGUAGES, catalog

PACKAGE = resources.files("ntsa_assistant")


def _files(lang: str) -> set[str]:
    """``feature/file.toml`` of every text file in ``lang``."""
    return {
        f"{feature.name}/{entry.name}"
        for feature in PACKAGE.iterdir()
        if feature.is_dir() and (feature / "locales" / lang).is_dir()
        for entry in (feature / "locales" / lang).iterdir()
        if entry.name.endswith(".toml")
    }


def _read(lang: str, name: str) -> dict[str, Any]:
    feature, file = name.split("/")
    return tomllib.loads((PACKAGE / feature / "locales" / lang / file).read_text("utf-8"))


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def _flat(prefix: str, table: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        out.update(_flat(name, value) if isinstance(value, Mapping) else {name: str(value)})
    return out


def test_both_languages_have_the_same_files() -> None:
    assert _files("en") == _files("sw")
    assert "faq/faq.toml" in _files("en")


@pytest.mark.parametrize("name", sorted(_files("en")))
def test_each_file_has_the_same_keys_in_both_languages(name: str) -> None:
    en = _flat("", _read("en", name))
    sw = _flat("", _read("sw", name))
    assert sorted(set(en) - set(sw)) == [], "missing in sw"
    assert sorted(set(sw) - set(en)) == [], "missing in en"


def test_every_english_placeholder_exists_in_kiswahili() -> None:
    en, sw = catalog("en"), catalog("sw")
    problems = {
        key: sorted(_placeholders(en[key]) ^ _placeholders(sw[key]))
        for key in en
        if key in sw and _placeholders(en[key]) != _placeholders(sw[key])
    }
    assert problems == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_is_a_valid_template(lang: str) -> None:
    for key, template in catalog(lang).items():
        assert template.strip(), key
        _placeholders(template)  # raises ValueError on an unbalanced brace
