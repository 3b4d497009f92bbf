"""Test helpers, imported by tests (never from a conftest): the Telegram Bot API emulator,
the process fixtures' helpers and fake servers."""
