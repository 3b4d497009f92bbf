"""Record files (DESIGN.md, "Contracts"): validation and import.

Rules an operator can rely on:

- A file is checked whole before anything is written. A file with any bad row is refused
  whole; every bad row is reported with its line number (the header is line 1) and a
  reason. The other files of the directory still load.
- Files load in the order accounts, organisations, transactions, sessions, each in its own
  transaction. Re-importing updates rows in place (upsert by the first column, the key);
  rows absent from a file are kept, never deleted.
- References to accounts (``organisations.representative_id_number`` and
  ``transactions.id_number``) that match no account are *warnings*, not errors: the row is
  loaded. The files often come from different systems at different times, the tables have
  no foreign keys, and refusing thousands of good transactions for one account that is
  late would do more harm than good. Until its account arrives, such a row is simply
  never shown, because a status answer needs a proven account first.
- Small spelling differences are forgiven and normalised: surrounding spaces, a UTF-8
  byte-order mark, KRA PINs in lower case, enumeration values in upper case.
"""

from __future__ import annotations

import codecs
import csv
import enum
import functools
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Table

from ntsa_assistant.core import identifiers
from ntsa_assistant.core.identifiers import InvalidIdentifier
from ntsa_assistant.storage.models import (
    Account,
    Audience,
    Language,
    LinkStatus,
    Organisation,
    OrganisationCategory,
    TrainingSession,
    Transaction,
    TransactionStatus,
)

logger = logging.getLogger(__name__)

Row = dict[str, Any]

MAX_CAPACITY = 100_000
UPSERT_BATCH = 5_000
LOOKUP_BATCH = 500
_SHOWN_VALUE = 40


class RecordKind(enum.StrEnum):
    """The four record files, in load order."""

    ACCOUNTS = "accounts"
    ORGANISATIONS = "organisations"
    TRANSACTIONS = "transactions"
    SESSIONS = "sessions"

    @property
    def filename(self) -> str:
        return f"{self.value}.csv"


class InvalidValue(ValueError):
    """A cell breaks a rule; the message completes "<column> '<value>' …"."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One error or warning; ``line`` is None for a problem with the file as a whole."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(slots=True)
class FileReport:
    """A validated file: its parsed rows (and their line numbers), or why it is refused."""

    kind: RecordKind
    path: Path | None
    rows: list[Row] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- cell parsers: each returns the stored value or raises InvalidValue -----------------

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIRST_YEAR, _LAST_YEAR = 1900, 2100


def _checked(parse: Callable[[str], str], raw: str) -> str:
    try:
        return parse(raw)
    except InvalidIdentifier as exc:
        raise InvalidValue(str(exc)) from None


def parse_id_number(raw: str) -> str:
    """A Kenyan national ID number: 7 or 8 digits."""
    return _checked(identifiers.parse_id_number, raw)


def parse_phone(raw: str) -> str:
    """A valid Kenyan number, written in E.164 as the record format requires (``+2547…``)."""
    reason = "is not a valid Kenyan number (E.164, +254…)"
    try:
        phone = identifiers.parse_phone(raw)
    except InvalidIdentifier:
        raise InvalidValue(reason) from None
    if phone != raw:
        raise InvalidValue(reason)
    return phone


def parse_email(raw: str) -> str:
    """An e-mail address of ordinary syntax (no deliverability check), stored in lower case."""
    return _checked(identifiers.parse_email, raw)


def parse_date(raw: str) -> date:
    """A calendar date written YYYY-MM-DD that exists (no 2023-02-30)."""
    if not _DATE.fullmatch(raw):
        raise InvalidValue("must be a date written YYYY-MM-DD")
    try:
        value = date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidValue("is not a real date (YYYY-MM-DD)") from exc
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        raise InvalidValue(f"is outside the years {_FIRST_YEAR}–{_LAST_YEAR}")
    return value


def parse_kra_pin(raw: str) -> str:
    """A KRA PIN: a letter, 9 digits and a letter; stored in upper case."""
    return _checked(identifiers.parse_kra_pin, raw)


def parse_instant(raw: str) -> datetime:
    """An ISO-8601 date and time that carries its UTC offset."""
    example = "like 2027-01-18T10:00:00+03:00"
    if not _DATETIME.fullmatch(raw):
        raise InvalidValue(f"must be an ISO-8601 date and time with offset, {example}")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidValue(f"is not a real date and time ({example})") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"has no UTC offset ({example})")
    return value


def parse_capacity(raw: str) -> int:
    """A seat count: a whole number from 1 to MAX_CAPACITY."""
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise InvalidValue("must be a whole number above 0")
    if int(raw) > MAX_CAPACITY:
        raise InvalidValue(f"is more than {MAX_CAPACITY}")
    return int(raw)


def parse_http_url(raw: str, max_length: int = 500) -> str:
    """An absolute http(s) link with a host and no spaces."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", raw):
        raise InvalidValue("must be an http:// or https:// link")
    if len(raw) > max_length:
        raise InvalidValue(f"is longer than {max_length} characters")
    return raw


def choice_parser(kind: type[enum.StrEnum]) -> Callable[[str], enum.StrEnum]:
    """A parser accepting the values of ``kind`` (any letter case)."""
    allowed = ", ".join(member.value for member in kind)

    def parse(raw: str) -> enum.StrEnum:
        try:
            return kind(raw.lower())
        except ValueError as exc:
            raise InvalidValue(f"is not one of: {allowed}") from exc

    return parse


def text_parser(max_length: int, pattern: re.Pattern[str] | None = None) -> Callable[[str], str]:
    """A parser for free text (or a code matching ``pattern``) of at most ``max_length``."""

    def parse(raw: str) -> str:
        if len(raw) > max_length:
            raise InvalidValue(f"is longer than {max_length} characters")
        if _CONTROL.search(raw):
            raise InvalidValue("contains a line break or control character")
        if pattern is not None and not pattern.fullmatch(raw):
            raise InvalidValue("may hold only letters, digits and . _ - / :")
        return raw

    return parse


# --- file specifications ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its parser, and whether an empty cell is allowed (stored as NULL)."""

    name: str
    parse: Callable[[str], Any]
    optional: bool = False


RowCheck = Callable[[Row], str | None]


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """How one record file maps to one table."""

    kind: RecordKind
    table: Table
    columns: tuple[Column, ...]
    row_checks: tuple[RowCheck, ...] = ()
    account_column: str | None = None

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def key(self) -> str:
        return self.columns[0].name


def _length(table: Table, column: str) -> int:
    """The column's length in the model, so limits follow the schema."""
    length = getattr(table.c[column].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{table.name}.{column} has no length")
    return length


def _updated_not_before_submitted(row: Row) -> str | None:
    if row["updated_on"] < row["submitted_on"]:
        return f"updated_on {row['updated_on']} is before submitted_on {row['submitted_on']}"
    return None


def _ends_after_start(row: Row) -> str | None:
    if row["ends_at"] <= row["starts_at"]:
        return f"ends_at {row['ends_at'].isoformat()} is not after starts_at"
    return None


@functools.cache
def _build_specs() -> dict[RecordKind, RecordSpec]:
    accounts = Account.__table__
    organisations = Organisation.__table__
    transactions = Transaction.__table__
    sessions = TrainingSession.__table__
    specs = (
        RecordSpec(
            RecordKind.ACCOUNTS,
            accounts,
            (
                Column("id_number", parse_id_number),
                Column("full_name", text_parser(_length(accounts, "full_name"))),
                Column("phone", parse_phone),
                Column("email", parse_email, optional=True),
                Column("validated_on", parse_date, optional=True),
            ),
        ),
        RecordSpec(
            RecordKind.ORGANISATIONS,
            organisations,
            (
                Column("kra_pin", parse_kra_pin),
                Column("name", text_parser(_length(organisations, "name"))),
                Column("category", choice_parser(OrganisationCategory)),
                Column("representative_id_number", parse_id_number),
                Column("link_status", choice_parser(LinkStatus)),
            ),
            account_column="representative_id_number",
        ),
        RecordSpec(
            RecordKind.TRANSACTIONS,
            transactions,
            (
                Column("reference", text_parser(_length(transactions, "reference"), _REFERENCE)),
                Column("id_number", parse_id_number),
                Column("service", text_parser(_length(transactions, "service"))),
                Column("status", choice_parser(TransactionStatus)),
                Column("submitted_on", parse_date),
                Column("updated_on", parse_date),
            ),
            row_checks=(_updated_not_before_submitted,),
            account_column="id_number",
        ),
        RecordSpec(
            RecordKind.SESSIONS,
            sessions,
            (
                Column("code", text_parser(_length(sessions, "code"), _CODE)),
                Column("title", text_parser(_length(sessions, "title"))),
                Column("audience", choice_parser(Audience)),
                Column("language", choice_parser(Language)),
                Column("starts_at", parse_instant),
                Column("ends_at", parse_instant),
                Column("capacity", parse_capacity),
                Column("join_url", lambda raw: parse_http_url(raw, _length(sessions, "join_url"))),
            ),
            row_checks=(_ends_after_start,),
        ),
    )
    return {spec.kind: spec for spec in specs}


def spec_for(kind: RecordKind) -> RecordSpec:
    """The specification of one record file (built on first use)."""
    return _build_specs()[kind]


# --- validation ------------------------------------------------------------------------


def _shown(raw: str) -> str:
    return raw if len(raw) <= _SHOWN_VALUE else raw[: _SHOWN_VALUE - 1] + "…"


def decode(data: bytes) -> tuple[str | None, list[Problem]]:
    """UTF-8 text without its byte-order mark, or one problem per undecodable line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = line[exc.start]
            problems.append(
                Problem(number, f"byte 0x{byte:02X} is not UTF-8: save the file as CSV UTF-8")
            )
    return None, problems


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each CSV record; raises csv.Error on broken quoting."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next_line = 1
    for cells in reader:
        yield next_line, cells
        next_line = reader.line_num + 1


def check_header(spec: RecordSpec, header: Sequence[str]) -> str | None:
    """Why ``header`` is not exactly the expected one, or None."""
    found = [name.strip() for name in header]
    expected = list(spec.header)
    if found == expected:
        return None
    parts = [f"the header must be exactly: {','.join(expected)}"]
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    repeated = sorted({name for name in found if found.count(name) > 1})
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected: {', '.join(repr(name) for name in unexpected)}")
    if repeated:
        parts.append(f"repeated: {', '.join(repeated)}")
    if not (missing or unexpected or repeated):
        parts.append("the columns are in another order")
    return "; ".join(parts)


def parse_row(spec: RecordSpec, cells: Sequence[str]) -> tuple[Row, list[str]]:
    """The typed row and the reasons it is bad (empty when it is good)."""
    row: Row = {}
    reasons = []
    for column, cell in zip(spec.columns, cells, strict=True):
        raw = cell.strip()
        if not raw:
            row[column.name] = None
            if not column.optional:
                reasons.append(f"{column.name} is empty")
            continue
        try:
            row[column.name] = column.parse(raw)
        except InvalidValue as exc:
            reasons.append(f"{column.name} '{_shown(raw)}' {exc}")
    if not reasons:
        reasons.extend(reason for check in spec.row_checks if (reason := check(row)))
    return row, reasons


def validate_text(kind: RecordKind, text: str, path: Path | None = None) -> FileReport:
    """Validates the decoded content of one record file."""
    spec = spec_for(kind)
    report = FileReport(kind, path)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        report.errors.append(
            Problem(None, f"the file is empty: it needs the header {','.join(spec.header)}")
        )
        return report
    try:
        _validate_records(spec, _records(text), report)
    except csv.Error as exc:
        report.errors.append(Problem(None, f"the file is not valid CSV: {exc}"))
    return report


def _validate_records(
    spec: RecordSpec, records: Iterator[tuple[int, list[str]]], report: FileReport
) -> None:
    _, header = next(records)
    if problem := check_header(spec, header):
        report.errors.append(Problem(1, problem))
        return
    seen: dict[Any, int] = {}
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(spec.columns):
            fields = f"has {len(cells)} fields where the header has {len(spec.columns)}"
            report.errors.append(Problem(line, fields))
            continue
        row, reasons = parse_row(spec, cells)
        key = row.get(spec.key)
        if key is not None and key in seen:
            reasons.append(f"{spec.key} '{key}' repeats line {seen[key]}")
        elif key is not None:
            seen[key] = line
        report.errors.extend(Problem(line, reason) for reason in reasons)
        if not reasons:
            report.rows.append(row)
            report.lines.append(line)
    if not report.errors and not report.rows:
        report.warnings.append(Problem(None, "the file has a header but no rows"))


def validate_file(kind: RecordKind, path: Path) -> FileReport:
    """Reads and validates one record file; never raises for bad content."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileReport(kind, path, errors=[Problem(None, f"cannot read it: {exc.strerror}")])
    text, problems = decode(data)
    if text is None:
        return FileReport(kind, path, errors=problems)
    return validate_text(kind, text, path)
