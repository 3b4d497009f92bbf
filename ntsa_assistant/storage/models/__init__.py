"""SQLAlchemy models, one module per feature; every model is importable from here, and
importing this package registers every table on ``Base.metadata`` (Alembic needs them all)."""

from ntsa_assistant.storage.models.activity import (
    ActivityEvent,
    ActivityKey,
    EventKind,
    RegistrationOutcome,
    StatusOutcome,
)
from ntsa_assistant.storage.models.announcements import (
    Announcement,
    AnnouncementDelivery,
    AnnouncementKind,
    DeliveryState,
    Subscription,
)
from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime
from ntsa_assistant.storage.models.faq import FaqFeedback
from ntsa_assistant.storage.models.handoff import (
    CloseReason,
    DeskItemKind,
    DeskOutbox,
    DeskTopic,
    Handoff,
    HandoffState,
)
from ntsa_assistant.storage.models.records import (
    Account,
    LinkStatus,
    Organisation,
    OrganisationCategory,
    Transaction,
    TransactionStatus,
)
from ntsa_assistant.storage.models.status import (
    LimitEvent,
    LimitKind,
    LimitLock,
    OneTimeCode,
    OwnershipProof,
    ProofMethod,
    SmsOutbox,
    StatusDisclosure,
)
from ntsa_assistant.storage.models.training import (
    Audience,
    OutboxNotice,
    Registration,
    RegistrationStatus,
    ReminderDelivery,
    TrainingSession,
)

__all__ = [
    "Announcement",
    "AnnouncementDelivery",
    "AnnouncementKind",
    "DeliveryState",
    "Subscription",
    "ActivityEvent",
    "ActivityKey",
    "EventKind",
    "RegistrationOutcome",
    "StatusOutcome",
    "HandoffState",
    "Handoff",
    "DeskTopic",
    "DeskOutbox",
    "DeskItemKind",
    "CloseReason",
    "Account",
    "Audience",
    "Base",
    "FaqFeedback",
    "Language",
    "LimitEvent",
    "LimitKind",
    "LimitLock",
    "LinkStatus",
    "OneTimeCode",
    "Organisation",
    "OrganisationCategory",
    "OutboxNotice",
    "OwnershipProof",
    "ProofMethod",
    "Registration",
    "RegistrationStatus",
    "ReminderDelivery",
    "SmsOutbox",
    "StatusDisclosure",
    "TrainingSession",
    "Transaction",
    "TransactionStatus",
    "UtcDateTime",
]
