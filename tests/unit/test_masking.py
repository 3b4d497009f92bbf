from __future__ import annotations

from ntsa_assistant.core.masking import (
    mask_email,
    mask_id_number,
    mask_kra_pin,
    mask_name,
    mask_phone,
    scrub,
)


def test_identifiers_keep_only_their_tail() -> None:
    assert mask_id_number("23456789") == "******89"
    assert mask_phone("+254712345678") == "***********78"
    assert mask_kra_pin("p051234567k") == "P*******67K"


def test_free_text_is_scrubbed_of_ids_phones_and_pins() -> None:
    line = "lookup id=23456789 phone=+254712345678 pin=P051234567K ref=TIMS-DL-2023-118230"
    masked = scrub(line)
    # References are not personal identifiers: they stay.
    assert masked == (
        "lookup id=******89 phone=***********78 pin=P*******67K ref=TIMS-DL-2023-118230"
    )


def test_phones_written_with_spaces_or_dashes_are_masked() -> None:
    assert scrub("call 0712-345-678 or +254 712 345 678.") == ("call ********78 or ***********78.")
    assert scrub("sms to 0712 345678 failed") == "sms to ********78 failed"


def test_id_numbers_written_apart_are_masked_as_the_chat_reads_them() -> None:
    assert scrub("my id is 2100 0102, or 21 000 102, or 2100-0102") == (
        "my id is ******02, or ******02, or ******02"
    )
    assert scrub("only 300 seats, 2 left") == "only 300 seats, 2 left"


def test_dates_times_and_references_are_not_taken_for_phones() -> None:
    line = "expires 2023-12-10 10:00:00 ref=TIMS-DL-2023-118230 chat 700000001"
    assert scrub(line) == line


def test_email_addresses_keep_only_their_first_letter_and_domain() -> None:
    assert mask_email("kiprono@example.com") == "k***@example.com"
    assert scrub("registered Kiprono.L@Example.com, then left.") == (
        "registered K***@Example.com, then left."
    )
    assert scrub("email=achieng@example.org") == "email=a***@example.org"
    # Not an address by the one e-mail rule: left as it is.
    assert scrub("user@localhost") == "user@localhost"


def test_names_on_record_are_reduced_to_initials() -> None:
    assert mask_name("Achieng Odhiambo") == "A*** O***"
    assert mask_name("  Mwikali   wa Mutua ") == "M*** w*** M***"


def test_a_database_error_does_not_repeat_the_values_it_was_given() -> None:
    error = (
        "(sqlite3.IntegrityError) UNIQUE constraint failed\n"
        "[SQL: INSERT INTO training_registrations (full_name, phone) VALUES (?, ?)]\n"
        "[parameters: ('Achieng Odhiambo', '+254700000101')]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    assert scrub(error) == (
        "(sqlite3.IntegrityError) UNIQUE constraint failed\n"
        "[SQL: INSERT INTO training_registrations (full_name, phone) VALUES (?, ?)]\n"
        "[parameters: masked]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )


def test_numbers_written_side_by_side_are_each_masked() -> None:
    # One match too long for a phone must not leave both numbers in clear.
    assert scrub("+254712345678 0712345678") == "***********78 ********78"
    assert scrub("id 23456789 0712345678") == "id ******89 ********78"
