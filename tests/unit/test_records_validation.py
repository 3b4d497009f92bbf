"""Pure validation rules of the record files: no database, no files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from ntsa_assistant.records.files import (
    InvalidValue,
    RecordKind,
    check_header,
    decode,
    parse_capacity,
    parse_date,
    parse_email,
    parse_http_url,
    parse_id_number,
    parse_instant,
    parse_kra_pin,
    parse_phone,
    spec_for,
    validate_text,
)
from ntsa_assistant.storage.models import OrganisationCategory

ACCOUNTS_HEADER = "id_number,full_name,phone,email,validated_on\n"


@pytest.mark.parametrize("value", ["1234567", "23456789"])
def test_id_number_of_seven_or_eight_digits(value: str) -> None:
    assert parse_id_number(value) == value


@pytest.mark.parametrize("value", ["123456", "123456789", "1234567a", "١٢٣٤٥٦٧٨", "12 34567"])
def test_id_number_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="7 or 8 digits"):
        parse_id_number(value)


@pytest.mark.parametrize("value", ["+254712345678", "+254110234567", "+254700000101"])
def test_kenyan_e164_phone(value: str) -> None:
    assert parse_phone(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "+25471",
        "0712345678",
        "254712345678",
        "+254 712 345 678",
        "+14155550123",
        "+2547123456789",
        "+2540712345678",
    ],
)
def test_phone_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"not a valid Kenyan number \(E\.164, \+254…\)"):
        parse_phone(value)


@pytest.mark.parametrize("value", ["a@example.com", "first.last+tag@mail.example.co.ke"])
def test_email_accepted(value: str) -> None:
    assert parse_email(value) == value


@pytest.mark.parametrize(
    "value", ["a@", "@example.com", "a b@example.com", "a@example", "a..b@x.ke"]
)
def test_email_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="e-mail"):
        parse_email(value)


def test_date() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2023-02-29", "not a real date"),
        ("2023-13-01", "not a real date"),
        ("15/12/2023", "YYYY-MM-DD"),
        ("2023-12-1", "YYYY-MM-DD"),
        ("0203-12-01", "outside the years"),
    ],
)
def test_date_rejected(value: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        parse_date(value)


def test_kra_pin_is_upper_cased() -> None:
    assert parse_kra_pin("p051234567k") == "P051234567K"


@pytest.mark.parametrize("value", ["P05123456K", "P0512345678K", "051234567KK", "P051234567"])
def test_kra_pin_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="a letter, 9 digits and a letter"):
        parse_kra_pin(value)


def test_instant_keeps_its_offset() -> None:
    value = parse_instant("2027-01-18T10:00:00+03:00")
    assert value.utcoffset() == timedelta(hours=3)
    assert value == datetime(2027, 1, 18, 7, 0, tzinfo=UTC)
    assert parse_instant("2027-01-18T07:00:00Z").tzinfo == UTC
    assert parse_instant("2027-01-18 10:00+03:00").tzinfo == timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2027-01-18T10:00:00", "no UTC offset"),
        ("2027-01-18", "date and time with offset"),
        ("2027-02-30T10:00:00+03:00", "not a real date and time"),
        ("tomorrow at ten", "date and time with offset"),
    ],
)
def test_instant_rejected(value: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        parse_instant(value)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "²"])
def test_capacity_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="whole number above 0"):
        parse_capacity(value)


def test_capacity_accepted() -> None:
    assert parse_capacity("2") == 2


@pytest.mark.parametrize(
    "value", ["ftp://x.org/a", "meet.example.org/x", "https://", "https://a b"]
)
def test_join_url_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="http"):
        parse_http_url(value)


def test_choice_accepts_any_letter_case() -> None:
    spec = spec_for(RecordKind.ORGANISATIONS)
    category = next(column for column in spec.columns if column.name == "category")
    assert category.parse("Motor_Dealer") is OrganisationCategory.MOTOR_DEALER


def test_header_must_match_exactly() -> None:
    spec = spec_for(RecordKind.ACCOUNTS)
    assert check_header(spec, ["id_number", "full_name", "phone", "email", "validated_on"]) is None
    exactly = "the header must be exactly: id_number,full_name,phone,email,validated_on"
    extra = check_header(spec, [*spec.header, "notes"])
    assert extra == f"{exactly}; unexpected: 'notes'"
    reordered = check_header(spec, ["full_name", "id_number", "phone", "email", "validated_on"])
    assert reordered == f"{exactly}; the columns are in another order"


def test_every_bad_row_is_reported_with_its_line() -> None:
    text = (
        ACCOUNTS_HEADER
        + "21000101,Achieng,+254700000101,,\n"
        + "\n"
        + '21000102,"Kiprono\nLangat",+254700000102,,\n'
        + "2100010,Mwikali,+25470,bad-email,2023-02-30\n"
        + "21000104,Baraka\n"
        + "21000105,"
        + "x" * 201
        + ",+254700000105,,\n"
    )

    report = validate_text(RecordKind.ACCOUNTS, text)

    assert not report.ok
    assert report.lines == [2]
    assert [str(problem) for problem in report.errors] == [
        "line 4: full_name 'Kiprono\nLangat' contains a line break or control character",
        "line 6: phone '+25470' is not a valid Kenyan number (E.164, +254…)",
        "line 6: email 'bad-email' is not a valid e-mail address",
        "line 6: validated_on '2023-02-30' is not a real date (YYYY-MM-DD)",
        "line 7: has 2 fields where the header has 5",
        "line 8: full_name '" + "x" * 39 + "…' is longer than 200 characters",
    ]


def test_good_rows_are_typed_and_blank_lines_skipped() -> None:
    text = "\ufeff" + ACCOUNTS_HEADER + "21000101,Achieng,+254700000101,,2023-12-04\r\n\r\n"

    report = validate_text(RecordKind.ACCOUNTS, text)

    assert report.ok
    assert report.lines == [2]
    assert report.rows == [
        {
            "id_number": "21000101",
            "full_name": "Achieng",
            "phone": "+254700000101",
            "email": None,
            "validated_on": date(2023, 12, 4),
        }
    ]


def test_missing_required_value() -> None:
    report = validate_text(RecordKind.ACCOUNTS, ACCOUNTS_HEADER + "21000101,,+254700000101,,\n")
    assert [str(problem) for problem in report.errors] == ["line 2: full_name is empty"]


def test_ends_must_follow_starts() -> None:
    text = (
        "code,title,audience,language,starts_at,ends_at,capacity,join_url\n"
        "S-1,T,all,en,2027-01-18T10:00:00+03:00,2027-01-18T07:00:00Z,5,https://x.example.org\n"
    )
    report = validate_text(RecordKind.SESSIONS, text)
    assert [str(problem) for problem in report.errors] == [
        "line 2: ends_at 2027-01-18T07:00:00+00:00 is not after starts_at"
    ]


def test_header_only_file_loads_nothing_with_a_warning() -> None:
    report = validate_text(RecordKind.ACCOUNTS, ACCOUNTS_HEADER)
    assert report.ok
    assert [str(w) for w in report.warnings] == ["the file has a header but no rows"]


@pytest.mark.parametrize("text", ["", "   \n\n"])
def test_empty_file_is_refused(text: str) -> None:
    report = validate_text(RecordKind.ACCOUNTS, text)
    assert [(problem.line, problem.message) for problem in report.errors] == [
        (None, "the file is empty: it needs the header " + ACCOUNTS_HEADER.strip())
    ]


def test_decode_reports_each_line_that_is_not_utf8() -> None:
    data = b"id_number\n" + "Ren\xe9\n".encode("latin-1") + b"ok\n" + b"\xff\xfe\n"
    text, problems = decode(data)
    assert text is None
    assert [(problem.line, problem.message) for problem in problems] == [
        (2, "byte 0xE9 is not UTF-8: save the file as CSV UTF-8"),
        (4, "byte 0xFF is not UTF-8: save the file as CSV UTF-8"),
    ]


def test_decode_drops_the_byte_order_mark() -> None:
    assert decode(b"\xef\xbb\xbfid_number\n") == ("id_number\n", [])


def test_broken_quoting_is_reported() -> None:
    report = validate_text(RecordKind.ACCOUNTS, ACCOUNTS_HEADER + '21000101,"Achieng,x,y\n')
    assert not report.ok
    assert [str(problem) for problem in report.errors] == [
        "the file is not valid CSV: unexpected end of data"
    ]
    assert report.rows == []
