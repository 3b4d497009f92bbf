"""Masking of personal identifiers before they reach a log line or a reply."""

from __future__ import annotations

import re

from ntsa_assistant.core.identifiers import ID_NUMBER_PATTERN, KRA_PIN_PATTERN

_ID_RE = re.compile(rf"(?<!\d){ID_NUMBER_PATTERN}(?!\d)")
_PHONE_RE = re.compile(r"\+?\d[\d ]{8,14}\d")
_PIN_RE = re.compile(rf"\b{KRA_PIN_PATTERN}\b")


def mask_tail(value: str, keep: int = 2) -> str:
    """``23456789`` → ``******89``: only the last ``keep`` characters stay."""
    value = value.strip()
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def mask_id_number(value: str) -> str:
    return mask_tail(value, 2)


def mask_phone(value: str) -> str:
    return mask_tail(value.replace(" ", ""), 2)


def mask_kra_pin(value: str) -> str:
    """``P051234567K`` → ``P*******67K``: the letters stay so a person recognises it."""
    value = value.strip().upper()
    if len(value) != 11:
        return mask_tail(value, 2)
    return value[0] + "*" * 7 + value[8:]


def scrub(text: str) -> str:
    """Masks every ID number, phone number and KRA PIN found in free text."""
    text = _PIN_RE.sub(lambda m: mask_kra_pin(m.group(0)), text)
    text = _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)
    return _ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)
