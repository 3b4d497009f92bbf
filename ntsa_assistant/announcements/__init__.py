"""Announcements to the people who asked for them, and operators' broadcasts.

- :mod:`.subscriptions` — subscribing and unsubscribing a chat (with its language);
- :mod:`.schedule` — which dates of the migration's timeline are announced, and when;
- :mod:`.outbox` — the send list in the database: one row per recipient, taken under a
  lease, finished once (``sent``, ``blocked``, ``failed``…), shared by the gateway's
  announcement job and the broadcast command;
- :mod:`.broadcast` — an operator's broadcast: its audience, its send list, and the sender
  that keeps to Telegram's limits (:mod:`.pacing`) through the Bot API (:mod:`.bot_api`);
- :mod:`.texts` — everything this feature says; :mod:`.retention` — what is purged when.
"""
