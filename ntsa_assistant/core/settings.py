"""Typed configuration, read once by each entry point (see DESIGN.md, "Contracts")."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/assistant.db"


class Settings(BaseSettings):
    """Every environment variable of the contract; a ``.env`` file may set them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443

    support_chat_id: int | None = None

    database_url: str = DEFAULT_DATABASE_URL
    rasa_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:5005")
    rasa_timeout_seconds: float = 8.0

    assistant_now: datetime | None = None

    sms_gateway_url: str | None = None
    sms_username: str | None = None
    sms_api_key: SecretStr | None = None
    sms_sender: str | None = None
    # "1": codes go to the gateway's log, not by SMS (development only; with a bot token set
    # only "force" does that). Unset or "0": no SMS gateway means no codes at all.
    sms_dev_log: Literal["", "0", "1", "force"] = ""
    code_pepper: SecretStr | None = None  # server-side secret in every code's HMAC ("" = unset)
    sms_codes_per_phone_per_day: int = 6
    sms_budget_per_hour: int = 200  # codes texted per hour, all phones together
    sms_outbox_interval_seconds: float = 1.0  # how often the gateway sends queued codes

    # Status look-ups (issue 4): unset → our SQL records; set → the remote status API.
    status_api_url: str | None = None
    status_api_key: SecretStr | None = None
    status_api_timeout_seconds: float = 1.5
    status_api_attempts: int = 3

    redis_url: str | None = None

    # Secrets between our own processes (README, "Security"): Rasa → action server calls,
    # Rasa's HTTP API, and the contact claims the gateway signs for the action server.
    action_server_secret: SecretStr | None = None
    rasa_auth_token: SecretStr | None = None
    gateway_signing_secret: SecretStr | None = None

    # Training reminders (issue 5): how long before a session, and how often the gateway looks.
    reminder_offsets: str = "24h,1h"
    reminder_interval_seconds: float = 30.0
    # The gateway's per-chat flood limit: past this many turns within the window, a turn is
    # answered "slow down" and dropped, never queued.
    chat_burst_messages: int = 5
    chat_burst_seconds: float = 10.0
    # What the gateway keeps per chat across restarts (button payloads, language choice).
    gateway_state_path: str = "var/gateway-state.pickle"
    log_level: str = "INFO"

    # Retention (README, "Retention"): days after which personal data is purged — by
    # "ntsa-assistant purge" and daily by the gateway. At least a day, so nothing live goes.
    retention_codes_days: int = Field(default=1, ge=1)  # one-time codes, queued SMS
    retention_limits_days: int = Field(default=2, ge=1)  # limit events and their locks
    retention_proofs_days: int = Field(default=7, ge=1)  # ownership proofs
    retention_audit_days: int = Field(default=365, ge=1)  # the disclosure audit trail
    retention_registrations_days: int = Field(default=90, ge=1)  # after the session ended
    retention_notices_days: int = Field(default=30, ge=1)  # finished outbox notices

    @field_validator(
        "telegram_bot_token",
        "webhook_secret",
        "sms_api_key",
        "status_api_key",
        "action_server_secret",
        "rasa_auth_token",
        "gateway_signing_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("support_chat_id", "assistant_now", "status_api_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def rasa_base(self) -> str:
        return str(self.rasa_url).rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded on first use by an entry point."""
    return Settings()
