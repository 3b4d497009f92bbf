"""Where Rasa's conversations are (ntsa_assistant/storage/conversations.py): one rule for the
Rasa process (tools/stack.py) and the retention purge, and the purge's async URL for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.conversations import (
    async_tracker_url,
    configured_tracker_store_url,
    tracker_store_url,
)
from tools import stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("sqlite+aiosqlite:///var/assistant.db", "sqlite:///{root}/var/rasa-trackers.db"),
        ("sqlite+aiosqlite:///data/app/a.db", "sqlite:///{root}/data/app/rasa-trackers.db"),
        ("sqlite+aiosqlite:////srv/data/a.db", "sqlite:////srv/data/rasa-trackers.db"),
        ("sqlite+aiosqlite://", "sqlite:///{root}/var/rasa-trackers.db"),
        (
            "postgresql+asyncpg://assistant:p%40ss@db:5432/assistant?ssl=require",
            "postgresql+psycopg2://assistant:p%40ss@db:5432/assistant?sslmode=require",
        ),
        ("postgresql://assistant@db/assistant", "postgresql+psycopg2://assistant@db/assistant"),
    ],
)
def test_the_store_follows_the_apps_database(
    database_url: str, expected: str, tmp_path: Path
) -> None:
    assert tracker_store_url(database_url, root=tmp_path) == expected.format(root=tmp_path)


def test_a_relative_sqlite_path_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the app opens DATABASE_URL: ``ntsa-assistant purge`` run where the app runs."""
    monkeypatch.chdir(tmp_path)

    assert tracker_store_url("sqlite+aiosqlite:///var/a.db") == (
        f"sqlite:///{tmp_path}/var/rasa-trackers.db"
    )


def test_the_stack_takes_a_relative_path_from_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process of ``make run`` runs in the repository, wherever it was started."""
    monkeypatch.chdir(tmp_path)

    assert stack.tracker_store_url("sqlite+aiosqlite:///var/assistant.db") == (
        f"sqlite:///{ROOT}/var/rasa-trackers.db"
    )


def test_another_database_needs_its_store_named() -> None:
    with pytest.raises(ValueError, match="set TRACKER_STORE_URL"):
        tracker_store_url("mysql+aiomysql://db/assistant")


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (
            "postgresql+psycopg2://rasa@tracker-db/rasa",
            "postgresql+psycopg2://rasa@tracker-db/rasa",
        ),
        ("", "sqlite:////srv/data/rasa-trackers.db"),  # empty is unset
        (None, "sqlite:////srv/data/rasa-trackers.db"),
    ],
)
def test_tracker_store_url_wins_over_the_derived_store(
    configured: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:////srv/data/assistant.db")
    if configured is None:
        monkeypatch.delenv("TRACKER_STORE_URL", raising=False)
    else:
        monkeypatch.setenv("TRACKER_STORE_URL", configured)

    assert configured_tracker_store_url(Settings(_env_file=None)) == expected


@pytest.mark.parametrize(
    ("tracker_url", "expected"),
    [
        ("sqlite:////srv/data/rasa-trackers.db", "sqlite+aiosqlite:////srv/data/rasa-trackers.db"),
        ("sqlite:///var/rasa-trackers.db", "sqlite+aiosqlite:///var/rasa-trackers.db"),
        (
            "postgresql+psycopg2://assistant:p%40ss@db:5432/assistant?sslmode=require",
            "postgresql+asyncpg://assistant:p%40ss@db:5432/assistant?ssl=require",
        ),
        ("postgresql://assistant@db/assistant", "postgresql+asyncpg://assistant@db/assistant"),
    ],
)
def test_the_purge_reaches_the_store_through_the_async_driver(
    tracker_url: str, expected: str
) -> None:
    assert async_tracker_url(tracker_url) == expected


def test_a_store_rasa_cannot_use_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql is not supported"):
        async_tracker_url("mysql+pymysql://db/rasa")


def test_compose_gateway_purges_the_store_its_rasa_replicas_fill() -> None:
    """The gateway has no TRACKER_STORE_URL of its own: its DATABASE_URL must lead to the
    replicas' store."""
    services = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())["services"]

    def resolved(value: str) -> str:
        return re.sub(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", "secret", value)

    bot = services["bot"]["environment"]
    assert "TRACKER_STORE_URL" not in bot
    for replica in ("rasa-1", "rasa-2"):
        rasa_store = resolved(services[replica]["environment"]["TRACKER_STORE_URL"])
        assert tracker_store_url(resolved(bot["DATABASE_URL"])) == rasa_store
