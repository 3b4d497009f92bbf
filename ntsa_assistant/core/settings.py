"""Typed configuration, read once by each entry point (see DESIGN.md, "Contracts")."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    # The agents' desk: one or more forum supergroups, comma-separated (SUPPORT_CHAT_ID).
    support_chat_id: Annotated[tuple[int, ...], NoDecode] = ()
    support_hours: str = "Mon-Fri 08:00-17:00"  # Africa/Nairobi; Kenyan public holidays closed
    support_escalate_minutes: int = Field(default=10, ge=1)  # unclaimed this long → reminder
    support_block_hours: int = Field(default=24, ge=1)  # /block stops relaying for this long
    # Telegram lets a bot send about 20 messages a minute into one group.
    support_group_messages: int = Field(default=20, ge=1)
    support_group_seconds: float = Field(default=60.0, gt=0)

    database_url: str = DEFAULT_DATABASE_URL
    # Where Rasa keeps conversations (a synchronous URL, read by the Rasa process); unset →
    # derived from DATABASE_URL (storage/conversations.py). The purge reads it here.
    tracker_store_url: str | None = None
    # RASA_URL: one Rasa server, or several replicas, comma-separated. The gateway sends
    # each chat to one replica by a stable hash of its id (bot/rasa_client.py); every
    # gateway must list the same replicas (in any order) to agree on where a chat lives.
    rasa_urls: Annotated[tuple[AnyHttpUrl, ...], NoDecode] = Field(
        default=(AnyHttpUrl("http://127.0.0.1:5005"),), validation_alias="rasa_url"
    )
    rasa_timeout_seconds: float = 8.0
    # At start the gateway takes no update until a Rasa replica is ready; past this many
    # seconds it gives up and exits, so a supervisor notices (0: wait for ever).
    rasa_wait_seconds: float = Field(default=600.0, ge=0)
    # The gateway's health endpoint (/live, /ready) on 127.0.0.1:HEALTH_PORT; 0: none.
    health_port: int = Field(default=0, ge=0, le=65535)

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

    # Status look-ups: unset → our SQL records; set → the remote status API. One look-up,
    # tries and backoff included, never takes longer than its budget: a turn may look up
    # twice (proof, then answer), and both must fit in the time the gateway waits.
    status_api_url: str | None = None
    status_api_key: SecretStr | None = None
    status_api_timeout_seconds: float = 1.5
    status_api_attempts: int = 3
    status_api_budget_seconds: float = 3.0

    redis_url: str | None = None
    # Every key the gateway keeps in Redis starts with this (one per deployment).
    redis_key_prefix: str = "ntsa:gateway:"

    # The FAQ page (web/): its port, its public address (for the bot's "read more" links)
    # and the bot's Telegram username (for the page's links into the chat).
    web_port: int = 8080
    faq_page_url: str = "http://127.0.0.1:8080"
    bot_username: str | None = None
    # The page's own secret: signs its forms' CSRF tokens and keys the HMAC that stands for a
    # client's address in the "Did this help?" votes. The web process refuses to start
    # without it. Only a deployment whose single reverse proxy appends the client's address
    # to X-Forwarded-For (and sets X-Forwarded-Proto) may trust those headers.
    web_secret: SecretStr | None = None
    web_trust_forwarded: bool = False

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
    retention_feedback_days: int = Field(default=365, ge=1)  # the FAQ page's votes
    retention_handoffs_days: int = Field(default=180, ge=1)  # closed handoffs (and topics)
    retention_desk_outbox_days: int = Field(default=7, ge=1)  # sent desk messages (ids only)
    retention_activity_days: int = Field(default=365, ge=1)  # the report's events (a chat hash)
    retention_activity_text_days: int = Field(default=90, ge=1)  # masked missed messages
    retention_conversations_days: int = Field(default=30, ge=1)  # Rasa's, after the last event

    @field_validator(
        "telegram_bot_token",
        "webhook_secret",
        "sms_api_key",
        "status_api_key",
        "action_server_secret",
        "rasa_auth_token",
        "gateway_signing_secret",
        "web_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("support_chat_id", mode="before")
    @classmethod
    def _chat_ids(cls, value: object) -> object:
        """``-1001,-1002`` → (-1001, -1002); every desk is a group (a negative id)."""
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            try:
                ids = tuple(int(part) for part in parts)
            except ValueError:
                raise ValueError(
                    "SUPPORT_CHAT_ID: comma-separated chat ids, e.g. -1001234567890"
                ) from None
            if any(chat_id >= 0 for chat_id in ids):
                raise ValueError("SUPPORT_CHAT_ID: a group's chat id is negative")
            return tuple(dict.fromkeys(ids))
        return value

    @field_validator("rasa_urls", mode="before")
    @classmethod
    def _rasa_urls(cls, value: object) -> object:
        """``http://rasa-1:5005, http://rasa-2:5005`` → both, each once; at least one."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            unique = list(dict.fromkeys(str(url).rstrip("/") for url in value))
            if not unique:
                raise ValueError("RASA_URL: at least one Rasa server, e.g. http://127.0.0.1:5005")
            return tuple(unique)
        return value

    @field_validator("assistant_now", "status_api_url", "tracker_store_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _turn_fits_the_gateways_wait(self) -> Settings:
        """Two look-ups and a margin must end before the gateway stops waiting, or a
        person would hear "unavailable" while their answer is still being made."""
        if self.status_api_url and 2 * self.status_api_budget_seconds + 1 > (
            self.rasa_timeout_seconds
        ):
            raise ValueError(
                "STATUS_API_BUDGET_SECONDS is too long for RASA_TIMEOUT_SECONDS: two look-ups "
                "plus one second must fit in the gateway's wait"
            )
        return self

    @property
    def rasa_url(self) -> AnyHttpUrl:
        """The first Rasa server of ``RASA_URL`` (``make run`` starts one there)."""
        return self.rasa_urls[0]

    @property
    def rasa_bases(self) -> tuple[str, ...]:
        """Every Rasa replica's base URL, without a trailing slash."""
        return tuple(str(url).rstrip("/") for url in self.rasa_urls)

    @property
    def rasa_base(self) -> str:
        """The first replica's base URL; a client of every replica takes :attr:`rasa_bases`."""
        return self.rasa_bases[0]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded on first use by an entry point."""
    return Settings()
