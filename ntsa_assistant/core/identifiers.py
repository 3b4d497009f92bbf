"""The identifiers people give us — national ID number, phone, KRA PIN, e-mail — one parser each.

Chat, record import, proofs and masking all use these, so an identifier accepted in one
place is accepted everywhere. A parser returns the stored form or raises
:class:`InvalidIdentifier`, whose ``reason`` names the user-facing text that says why and
whose message is the operator's English explanation (record import shows it).
"""

from __future__ import annotations

import re

import phonenumbers

ID_NUMBER_PATTERN = r"[0-9]{7,8}"
"""A Kenyan national ID number: 7 or 8 digits."""

KRA_PIN_PATTERN = r"[A-Za-z][0-9]{9}[A-Za-z]"
"""A KRA PIN: a letter, nine digits and a letter (``P051234567K``)."""

EMAIL_MAX_LENGTH = 254

_ID_NUMBER = re.compile(ID_NUMBER_PATTERN)
_KRA_PIN = re.compile(KRA_PIN_PATTERN)
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# Runs of digits that may be one number written with spaces, dashes or dots inside.
_DIGIT_RUN = re.compile(r"\d[\d\s\-.]*\d|\d")
# A Kenyan number already in E.164 (the record files' form): built without parsing.
_KENYAN_E164 = re.compile(r"\+254[1-9][0-9]{5,9}")
_SEPARATORS = re.compile(r"[^\d+]")
_WHITESPACE = re.compile(r"\s+")


class InvalidIdentifier(ValueError):
    """An identifier that breaks its rule; ``reason`` names the text shown to the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_id_number(text: str) -> str:
    """A national ID number written alone: 7 or 8 digits."""
    value = text.strip()
    if not _ID_NUMBER.fullmatch(value):
        raise InvalidIdentifier("id_number_invalid", "must be 7 or 8 digits")
    return value


def find_id_number(text: str | None) -> str | None:
    """The one ID number in a message (``"my ID is 2100 0102"`` → ``"21000102"``), or None.

    The digits must come as one number (spaces, dashes or dots inside it are fine)."""
    runs = _DIGIT_RUN.findall(text or "")
    if len(runs) != 1:
        return None
    digits = "".join(ch for ch in runs[0] if ch.isdigit())
    return digits if _ID_NUMBER.fullmatch(digits) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parsed_phone(text: str) -> phonenumbers.PhoneNumber | None:
    """A valid number in any usual spelling: ``0712 345 678``, ``+254712345678``, and
    ``254712345678`` (Telegram sends contacts' numbers without the plus)."""
    value = text.strip()
    if _KENYAN_E164.fullmatch(value):  # the common case of a large import: no parsing
        number = phonenumbers.PhoneNumber(country_code=254, national_number=int(value[4:]))
        return number if phonenumbers.is_valid_number(number) else None
    candidates = [value]
    digits = _SEPARATORS.sub("", value)
    if digits and digits[0] not in "+0":
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, "KE")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def parse_phone(text: str) -> str:
    """A Kenyan mobile or landline number in any usual spelling → E.164 (``+2547…``)."""
    number = _parsed_phone(text)
    if number is None:
        raise InvalidIdentifier("phone_invalid", "is not a valid Kenyan number (E.164, +254…)")
    if phonenumbers.region_code_for_number(number) != "KE":
        raise InvalidIdentifier("phone_not_kenyan", "is not a Kenyan number (+254…)")
    return _e164(number)


def normalise_phone(text: str | None) -> str | None:
    """Any valid number, Kenyan or not, in E.164 — for comparing two phones; None if none."""
    number = _parsed_phone(text) if text else None
    return _e164(number) if number is not None else None


def parse_kra_pin(text: str) -> str:
    """A KRA PIN in any letter case, spaces ignored → upper case (``P051234567K``)."""
    pin = _WHITESPACE.sub("", text).upper()
    if not _KRA_PIN.fullmatch(pin):
        raise InvalidIdentifier(
            "kra_pin_invalid", "must be a letter, 9 digits and a letter (like P051234567K)"
        )
    return pin


def parse_email(text: str) -> str:
    """An e-mail address of ordinary syntax (no deliverability check), in lower case."""
    email = text.strip()
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL.fullmatch(email):
        raise InvalidIdentifier("email_invalid", "is not a valid e-mail address")
    return email.lower()
