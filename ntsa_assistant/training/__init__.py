"""Training sessions: registration with capacity and waitlist, managing it in chat,
reminders, notices, calendar files, and every text the feature says.

Modules: ``rules`` (pure rules and refusals), ``views`` (what the services return),
``booking`` (register, cancel, move — the training session's row locked), ``queries``
(offers, a chat's registrations, counts, export), ``outbox`` and ``reminders`` (what the
gateway owes a chat), ``calendar`` (the ``.ics`` file), ``texts`` (everything said).
"""
