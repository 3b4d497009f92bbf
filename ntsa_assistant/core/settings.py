"""Typed configuration, read once by each entry point (see DESIGN.md, "Contracts")."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import AnyHttpUrl, SecretStr, field_validator
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

    # Status look-ups (issue 4): unset → our SQL records; set → the remote status API.
    status_api_url: str | None = None
    status_api_key: SecretStr | None = None
    status_api_timeout_seconds: float = 1.5
    status_api_attempts: int = 3

    redis_url: str | None = None

    # Training reminders (issue 5): how long before a session, and how often the gateway looks.
    reminder_offsets: str = "24h,1h"
    reminder_interval_seconds: float = 30.0
    log_level: str = "INFO"

    @field_validator(
        "telegram_bot_token", "webhook_secret", "sms_api_key", "status_api_key", mode="before"
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
