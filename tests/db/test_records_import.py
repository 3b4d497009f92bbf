"""Importing record files into SQLite and PostgreSQL: loads, upserts, refusals."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ntsa_assistant.records.files import RecordKind
from ntsa_assistant.records.importer import (
    FileResult,
    ImportReport,
    demo_records,
    import_demo_records,
    import_directory,
)
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Account,
    Audience,
    LinkStatus,
    Organisation,
    OutboxNotice,
    RegistrationStatus,
    TrainingSession,
    Transaction,
    TransactionStatus,
)
from ntsa_assistant.training.booking import cancel, register
from ntsa_assistant.training.outbox import claim_notices
from ntsa_assistant.training.queries import my_registrations, training_session_counts
from tests.support.training import NOW, person

GOOD_SESSIONS = (
    "code,title,audience,language,starts_at,ends_at,capacity,join_url\n"
    "T-1,Intro,all,en,2027-01-18T10:00:00+03:00,2027-01-18T12:00:00+03:00,5,https://m.example.org/1\n"
)
GOOD_ACCOUNTS = (
    "id_number,full_name,phone,email,validated_on\n"
    "21000101,Achieng Odhiambo,+254700000101,,2023-12-04\n"
)


async def count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def write(directory: Path, kind: RecordKind, content: str | bytes) -> None:
    data = content.encode() if isinstance(content, str) else content
    (directory / kind.filename).write_bytes(data)


def result_for(report: ImportReport, kind: RecordKind) -> FileResult:
    (result,) = [result for result in report.files if result.kind is kind]
    return result


async def test_demo_records_load(session_factory: SessionFactory) -> None:
    report = await import_demo_records(session_factory)

    assert report is not None
    assert report.ok
    assert [(r.kind, r.loaded, r.warnings) for r in report.files] == [
        (RecordKind.ACCOUNTS, 8, ()),
        (RecordKind.ORGANISATIONS, 7, ()),
        (RecordKind.TRANSACTIONS, 9, ()),
        (RecordKind.SESSIONS, 10, ()),
    ]
    async with session_factory() as session:
        first = await session.get(TrainingSession, "TRN-ALL-01")
        dealer = await session.get(Organisation, "P000000101A")
        unvalidated = await session.get(Account, "21000102")
    assert first is not None
    assert first.starts_at == datetime(2027, 1, 18, 7, 0, tzinfo=UTC)
    assert first.audience is Audience.ALL
    assert dealer is not None
    assert dealer.link_status is LinkStatus.LINKED
    assert unvalidated is not None
    assert unvalidated.validated_on is None
    assert unvalidated.email == "kiprono.langat@example.com"


async def test_demo_records_load_only_into_an_empty_database(
    session_factory: SessionFactory,
) -> None:
    await import_demo_records(session_factory)

    assert await import_demo_records(session_factory) is None
    assert await count(session_factory, Account) == 8


async def test_reimport_updates_rows_in_place(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    with demo_records() as demo:
        shutil.copytree(demo, tmp_path, dirs_exist_ok=True)
    await import_directory(session_factory, tmp_path)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(accounts.read_text().replace("Achieng Odhiambo", "Achieng Atieno Odhiambo"))
    transactions = tmp_path / "transactions.csv"
    transactions.write_text(
        transactions.read_text().replace(
            "awaiting_payment,2023-12-05,2023-12-05", "completed,2023-12-05,2023-12-14"
        )
    )

    report = await import_directory(session_factory, tmp_path)

    assert report.ok
    assert await count(session_factory, Account) == 8
    assert await count(session_factory, Transaction) == 9
    async with session_factory() as session:
        account = await session.get(Account, "21000101")
        renewal = await session.get(Transaction, "TIMS-DL-2023-000102")
    assert account is not None
    assert account.full_name == "Achieng Atieno Odhiambo"
    assert renewal is not None
    assert renewal.status is TransactionStatus.COMPLETED
    assert renewal.updated_on == date(2023, 12, 14)


BAD_FILES = [
    pytest.param(
        RecordKind.ACCOUNTS,
        "id_number,full_name,phone,email,validated_on\n"
        "21000101,Achieng Odhiambo,+254700000101,,\n"
        "1234567890,Kiprono Langat,+254700000102,,\n"
        "21000103,Mwikali Musyoka,+254700000103,,\n"
        "123456,Baraka Mwangi,+254700000104,,\n",
        [(3, "id_number '1234567890' must be 7 or 8 digits"), (5, "id_number '123456' must")],
        id="wrong-id-length",
    ),
    pytest.param(
        RecordKind.ACCOUNTS,
        "id_number,full_name,phone,email,validated_on\n"
        "21000101,Achieng Odhiambo,+25471,,\n"
        "21000102,Kiprono Langat,0712345678,,\n"
        "21000103,Mwikali Musyoka,+14155550123,,\n",
        [
            (2, "phone '+25471' is not a valid Kenyan number (E.164, +254…)"),
            (3, "phone '0712345678' is not a valid Kenyan number"),
            (4, "phone '+14155550123' is not a valid Kenyan number"),
        ],
        id="bad-phone",
    ),
    pytest.param(
        RecordKind.ORGANISATIONS,
        "kra_pin,name,category,representative_id_number,link_status\n"
        "P05123456K,Savannah Auto Traders Ltd,motor_dealer,21000101,linked\n"
        "P000000103C,Umoja Sacco,financial_institution,21000101,pending\n"
        "0000000104D,Tausi Assurance,insurance,21000101,linked\n",
        [
            (2, "kra_pin 'P05123456K' must be a letter, 9 digits and a letter"),
            (4, "kra_pin '0000000104D' must be"),
        ],
        id="bad-kra-pin",
    ),
    pytest.param(
        RecordKind.ORGANISATIONS,
        "kra_pin,name,category,representative_id_number,link_status\n"
        "P000000101A,Savannah Auto Traders Ltd,dealer,21000101,linked\n"
        "P000000103C,Umoja Sacco,financial_institution,21000101,half_linked\n",
        [
            (2, "category 'dealer' is not one of: motor_dealer, financial_institution"),
            (3, "link_status 'half_linked' is not one of: linked, pending, not_linked"),
        ],
        id="unknown-category",
    ),
    pytest.param(
        RecordKind.TRANSACTIONS,
        "reference,id_number,service,status,submitted_on,updated_on\n"
        "R-1,21000101,Transfer,submitted,2023-02-30,2023-03-01\n"
        "R-2,21000101,Transfer,submitted,15/12/2023,2023-12-16\n"
        "R-3,21000101,Transfer,submitted,2023-12-10,2023-12-01\n"
        "R-4,21000101,Transfer,submitted,2023-12-10,2023-12-11\n",
        [
            (2, "submitted_on '2023-02-30' is not a real date"),
            (3, "submitted_on '15/12/2023' must be a date written YYYY-MM-DD"),
            (4, "updated_on 2023-12-01 is before submitted_on 2023-12-10"),
        ],
        id="bad-dates",
    ),
    pytest.param(
        RecordKind.TRANSACTIONS,
        "reference,id_number,service,status,submitted_on,updated_on\n"
        "R-1,21000101,Transfer,submitted,2023-12-01,2023-12-01\n"
        "R-2,21000101,Renewal,submitted,2023-12-01,2023-12-01\n"
        "R-1,21000101,Transfer,completed,2023-12-01,2023-12-03\n"
        "R-1,21000101,Transfer,completed,2023-12-01,2023-12-04\n",
        [(4, "reference 'R-1' repeats line 2"), (5, "reference 'R-1' repeats line 2")],
        id="duplicate-keys",
    ),
    pytest.param(
        RecordKind.ACCOUNTS,
        "id_number,full_name,mobile,email,validated_on\n21000101,A B,+254700000101,,\n",
        [(1, "missing: phone; unexpected: 'mobile'")],
        id="wrong-header",
    ),
    pytest.param(
        RecordKind.ACCOUNTS,
        "",
        [(None, "the file is empty")],
        id="empty-file",
    ),
    pytest.param(
        RecordKind.ACCOUNTS,
        b"id_number,full_name,phone,email,validated_on\n"
        b"21000101,Achieng Odhiambo,+254700000101,,\n"
        + "21000102,Ren\xe9 Kiprono,+254700000102,,\n".encode("latin-1"),
        [(3, "byte 0xE9 is not UTF-8")],
        id="non-utf8",
    ),
    pytest.param(
        RecordKind.SESSIONS,
        "code,title,audience,language,starts_at,ends_at,capacity,join_url\n"
        "S-1,Intro,all,en,2027-01-18T10:00:00,2027-01-18T12:00:00+03:00,5,https://x.example.org\n"
        "S-2,Intro,all,fr,2027-01-18T10:00:00+03:00,2027-01-18T09:00:00+03:00,0,ftp://x.org\n",
        [
            (2, "starts_at '2027-01-18T10:00:00' has no UTC offset"),
            (3, "language 'fr' is not one of: en, sw"),
            (3, "capacity '0' must be a whole number above 0"),
            (3, "join_url 'ftp://x.org' must be an http:// or https:// link"),
        ],
        id="bad-sessions",
    ),
]


@pytest.mark.parametrize(("kind", "content", "expected"), BAD_FILES)
async def test_bad_file_is_refused_whole_and_other_files_load(
    session_factory: SessionFactory,
    tmp_path: Path,
    kind: RecordKind,
    content: str | bytes,
    expected: list[tuple[int | None, str]],
) -> None:
    write(tmp_path, kind, content)
    good = RecordKind.SESSIONS if kind is not RecordKind.SESSIONS else RecordKind.ACCOUNTS
    write(tmp_path, good, GOOD_SESSIONS if good is RecordKind.SESSIONS else GOOD_ACCOUNTS)

    report = await import_directory(session_factory, tmp_path)

    refused = result_for(report, kind)
    assert not report.ok
    assert refused.refused
    assert refused.loaded == 0
    assert [problem.line for problem in refused.errors] == [line for line, _ in expected]
    for problem, (_, reason) in zip(refused.errors, expected, strict=True):
        assert reason in problem.message
    assert result_for(report, good).loaded == 1
    assert await count(session_factory, spec_model(kind)) == 0
    assert await count(session_factory, spec_model(good)) == 1


def spec_model(kind: RecordKind) -> type:
    return {
        RecordKind.ACCOUNTS: Account,
        RecordKind.ORGANISATIONS: Organisation,
        RecordKind.TRANSACTIONS: Transaction,
        RecordKind.SESSIONS: TrainingSession,
    }[kind]


async def test_unknown_account_reference_is_loaded_with_a_warning(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    write(tmp_path, RecordKind.ACCOUNTS, GOOD_ACCOUNTS)
    write(
        tmp_path,
        RecordKind.TRANSACTIONS,
        "reference,id_number,service,status,submitted_on,updated_on\n"
        "R-1,21000101,Transfer,submitted,2023-12-01,2023-12-01\n"
        "R-2,29999999,Renewal,submitted,2023-12-01,2023-12-01\n",
    )

    report = await import_directory(session_factory, tmp_path)

    transactions = result_for(report, RecordKind.TRANSACTIONS)
    assert report.ok
    assert transactions.loaded == 2
    assert [str(w) for w in transactions.warnings] == [
        "line 3: id_number '29999999' matches no account (row loaded anyway)"
    ]


async def test_kra_pin_and_choices_are_normalised(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    write(tmp_path, RecordKind.ACCOUNTS, GOOD_ACCOUNTS)
    write(
        tmp_path,
        RecordKind.ORGANISATIONS,
        "kra_pin,name,category,representative_id_number,link_status\n"
        " p000000101a , Savannah Auto Traders Ltd ,Motor_Dealer,21000101,LINKED\n",
    )

    report = await import_directory(session_factory, tmp_path)

    assert report.ok
    async with session_factory() as session:
        organisation = await session.get(Organisation, "P000000101A")
    assert organisation is not None
    assert organisation.name == "Savannah Auto Traders Ltd"
    assert organisation.link_status is LinkStatus.LINKED


def sessions_csv(capacity: int) -> str:
    """One training session, T-1 (18 January 2027), with ``capacity`` seats."""
    return GOOD_SESSIONS.replace(",5,https", f",{capacity},https")


async def test_reimport_raising_capacity_promotes_the_waitlist_with_notices(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    write(tmp_path, RecordKind.SESSIONS, sessions_csv(1))
    assert (await import_directory(session_factory, tmp_path, NOW)).ok
    people = [await register(session_factory, "T-1", person(n), NOW) for n in range(1, 5)]
    assert [p.registration.status for p in people] == [
        RegistrationStatus.CONFIRMED,
        *[RegistrationStatus.WAITLISTED] * 3,
    ]

    write(tmp_path, RecordKind.SESSIONS, sessions_csv(3))
    report = await import_directory(session_factory, tmp_path, NOW)

    assert report.ok
    [counts] = await training_session_counts(session_factory, "T-1")
    assert (counts.training_session.capacity, counts.confirmed, counts.waitlisted) == (3, 3, 1)
    [second] = await my_registrations(session_factory, 900_002, NOW)
    [fourth] = await my_registrations(session_factory, 900_004, NOW)
    assert second.status is RegistrationStatus.CONFIRMED
    assert (fourth.status, fourth.waitlist_position) == (RegistrationStatus.WAITLISTED, 1)
    notices = await claim_notices(session_factory, NOW)
    assert [(n.chat_id, n.registration and n.registration.reference) for n in notices] == [
        (900_002, people[1].registration.reference),
        (900_003, people[2].registration.reference),
    ]


async def test_reimport_lowering_capacity_cancels_nobody(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    write(tmp_path, RecordKind.SESSIONS, sessions_csv(3))
    await import_directory(session_factory, tmp_path, NOW)
    people = [await register(session_factory, "T-1", person(n), NOW) for n in range(1, 5)]

    write(tmp_path, RecordKind.SESSIONS, sessions_csv(1))
    assert (await import_directory(session_factory, tmp_path, NOW)).ok

    [counts] = await training_session_counts(session_factory, "T-1")
    assert (counts.training_session.capacity, counts.confirmed, counts.waitlisted) == (1, 3, 1)
    # A freed seat goes to nobody until the confirmed fit the new capacity.
    await cancel(session_factory, people[0].registration.reference, NOW)
    [counts] = await training_session_counts(session_factory, "T-1")
    assert (counts.confirmed, counts.waitlisted) == (2, 1)
    assert await count(session_factory, OutboxNotice) == 0


async def test_reimport_beside_concurrent_registrations_never_overbooks(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    write(tmp_path, RecordKind.SESSIONS, sessions_csv(2))
    await import_directory(session_factory, tmp_path, NOW)
    write(tmp_path, RecordKind.SESSIONS, sessions_csv(6))

    await asyncio.gather(
        *(register(session_factory, "T-1", person(n), NOW) for n in range(1, 11)),
        import_directory(session_factory, tmp_path, NOW),
    )

    [counts] = await training_session_counts(session_factory, "T-1")
    assert (counts.training_session.capacity, counts.confirmed, counts.waitlisted) == (6, 6, 4)
