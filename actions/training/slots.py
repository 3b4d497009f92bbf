"""Every slot of the training feature (nlu/domain/training.yml); intents and entities are
in :mod:`ntsa_assistant.protocol`."""

from __future__ import annotations

FORM = "training_form"
REQUESTED_SLOT = "requested_slot"

AUDIENCE = "training_audience"
SESSION = "training_session"
WAITLIST = "training_waitlist"
FULL = "training_full"
NAME = "training_name"
PHONE = "training_phone"
EMAIL = "training_email"
KRA_PIN = "training_kra_pin"
CONFIRMED = "training_confirmed"
PHONE_PROVEN = "training_phone_proven"  # "yes": the phone is the sender's own shared contact

FORM_SLOTS = (
    AUDIENCE,
    SESSION,
    WAITLIST,
    FULL,
    NAME,
    PHONE,
    PHONE_PROVEN,
    EMAIL,
    KRA_PIN,
    CONFIRMED,
)

SKIPPED = "-"  # the e-mail slot's value after "Skip"
NOT_OWN_CONTACT = "__not_own__"  # a shared contact that is not the sender's own
YES = "yes"
NO = "no"  # the confirmation slot's value once the person stopped by typing
