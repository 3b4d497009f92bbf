"""Every slot, entity and intent name of the training feature (nlu/domain/training.yml)."""

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

FORM_SLOTS = (AUDIENCE, SESSION, WAITLIST, FULL, NAME, PHONE, EMAIL, KRA_PIN, CONFIRMED)

REFERENCE_ENTITY = "training_reference"
SESSION_ENTITY = SESSION

SKIPPED = "-"  # the e-mail slot's value after "Skip"
NOT_OWN_CONTACT = "__not_own__"  # a shared contact that is not the sender's own
YES = "yes"

# Intents of the buttons this feature makes.
CHOOSE = "training_choose"
SKIP = "training_skip"
CONFIRM = "training_confirm"
STOP = "training_stop"
CANCEL = "training_cancel"
CANCEL_CONFIRMED = "training_cancel_confirmed"
KEEP = "training_keep"
MOVE = "training_move"
MOVE_TO = "training_move_to"
CONTACT_SHARED = "contact_shared"
