"""Masking of personal data before it reaches a log line or a reply.

:func:`scrub` finds what it can recognise in free text: national ID numbers, phone numbers
(also written with spaces or dashes), KRA PINs, e-mail addresses, and the parameters that
a database error repeats. A name cannot be recognised in free text, so a log line that
includes a name on record masks it where it is written, with :func:`mask_name`.
"""

from __future__ import annotations

import re

from ntsa_assistant.core.identifiers import (
    ID_NUMBER_PATTERN,
    KRA_PIN_PATTERN,
    InvalidIdentifier,
    parse_email,
)

_ID_RE = re.compile(rf"(?<!\d){ID_NUMBER_PATTERN}(?!\d)")
# An ID number written apart, as the chat accepts it (``2100 0102``, ``21 000 102``,
# ``2100-0102``): the groups after the first have three or four digits, so a date
# (``2023-12-10``) is left alone; 7 or 8 digits in all.
_ID_APART_RE = re.compile(r"(?<![\w\-])\d{1,4}(?:[ \-]\d{3,4}){1,2}(?![\w\-])")
# A phone as people write it: ``+254712345678``, ``0712 345 678``, ``0712-345-678``,
# ``+254 712 345 678``. Groups after the first have three digits or more, so dates and
# times (``2023-12-10 10:00``) and references (``TIMS-DL-2023-118230``) are left alone.
_PHONE_RE = re.compile(r"(?<![\w+\-])\+?\d{1,4}(?:[ \-]?\d{3,}){1,4}(?![\w\-])")
_PHONE_DIGITS = range(10, 16)
_PIN_RE = re.compile(rf"\b{KRA_PIN_PATTERN}\b")
# Candidates only: each is checked by the one e-mail rule (core.identifiers.parse_email).
_EMAIL_CANDIDATE_RE = re.compile(r"[^\s@<>()\[\]{},;:\"'=]+@[^\s@<>()\[\]{},;:\"'=]+")
# SQLAlchemy repeats a failed statement's values (names, phones, e-mails) in its message.
_SQL_PARAMETERS_RE = re.compile(r"\[parameters: [^\n]*")
_SQL_PARAMETERS_MASKED = "[parameters: masked]"
_PHONE_SEPARATORS = re.compile(r"[\s\-]")
_SPACES = re.compile(r"(\s+)")


def mask_tail(value: str, keep: int = 2) -> str:
    """``23456789`` → ``******89``: only the last ``keep`` characters stay."""
    value = value.strip()
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def mask_id_number(value: str) -> str:
    return mask_tail(value, 2)


def mask_phone(value: str) -> str:
    """``0712-345-678`` → ``********78`` (spaces and dashes do not count)."""
    return mask_tail(_PHONE_SEPARATORS.sub("", value), 2)


def mask_kra_pin(value: str) -> str:
    """``P051234567K`` → ``P*******67K``: the letters stay so a person recognises it."""
    value = value.strip().upper()
    if len(value) != 11:
        return mask_tail(value, 2)
    return value[0] + "*" * 7 + value[8:]


def mask_name(value: str) -> str:
    """``Achieng Odhiambo`` → ``A*** O***``: initials only, the length not told either."""
    return " ".join(word[0] + "***" for word in value.split())


def mask_email(value: str) -> str:
    """``kiprono@example.com`` → ``k***@example.com``: the first letter and the domain stay."""
    local, _, domain = value.strip().rpartition("@")
    return f"{local[:1]}***@{domain}"


def _masked_email(match: re.Match[str]) -> str:
    candidate = match.group(0)
    stripped = candidate.rstrip(".")
    try:
        parse_email(stripped)
    except InvalidIdentifier:
        return candidate
    return mask_email(stripped) + candidate[len(stripped) :]


def _masked_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if digits in _PHONE_DIGITS:
        return mask_phone(text)
    if digits > _PHONE_DIGITS.stop - 1 and _SPACES.search(text):
        # Too long for one phone: numbers written side by side ("+2547… 07…"), each its own.
        return "".join(
            part if _SPACES.fullmatch(part) else _PHONE_RE.sub(_masked_phone, part)
            for part in _SPACES.split(text)
        )
    return text


def scrub(text: str) -> str:
    """Masks every ID number, phone number, KRA PIN and e-mail address found in free text,
    and the values a database error repeats."""
    text = _SQL_PARAMETERS_RE.sub(_SQL_PARAMETERS_MASKED, text)
    text = _EMAIL_CANDIDATE_RE.sub(_masked_email, text)
    text = _PIN_RE.sub(lambda m: mask_kra_pin(m.group(0)), text)
    text = _PHONE_RE.sub(_masked_phone, text)
    text = _ID_APART_RE.sub(_masked_id_apart, text)
    return _ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)


def _masked_id_apart(match: re.Match[str]) -> str:
    digits = "".join(ch for ch in match.group(0) if ch.isdigit())
    return mask_id_number(digits) if 7 <= len(digits) <= 8 else match.group(0)
