from __future__ import annotations

from ntsa_assistant.core.masking import mask_id_number, mask_kra_pin, mask_phone, scrub


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
