"""docker-compose.yml and the Makefile stay in step with the settings contract."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from ntsa_assistant.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_shape_with_healthchecks() -> None:
    services = _compose()["services"]
    for name in ("postgres", "redis", "rasa-1", "rasa-2", "actions", "bot", "web"):
        assert "healthcheck" in services[name], name
    assert "pgdata" in _compose()["volumes"]


def test_the_gateway_takes_webhooks_and_routes_to_both_replicas() -> None:
    services = _compose()["services"]
    bot = services["bot"]["environment"]
    assert bot["TELEGRAM_MODE"] == "webhook"
    assert set(bot["RASA_URL"].split(",")) == {"http://rasa-1:5005", "http://rasa-2:5005"}
    assert bot["REDIS_URL"] == "redis://redis:6379/0"


def test_both_replicas_share_conversations_and_locks() -> None:
    services = _compose()["services"]
    first, second = services["rasa-1"], services["rasa-2"]
    assert first == second
    env = first["environment"]
    assert env["TRACKER_STORE_URL"].startswith("postgresql+psycopg2://")
    assert env["TRACKER_STORE_URL"].endswith("@postgres:5432/assistant")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert "TRACKER_STORE_SECRET" in env
    assert "/webhooks/health/ready" in " ".join(first["healthcheck"]["test"])


def test_every_app_variable_in_compose_is_a_setting() -> None:
    services = _compose()["services"]
    known = {
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    }
    for name in ("bot", "actions"):
        unknown = set(services[name]["environment"]) - known
        assert not unknown, f"{name}: {unknown} are not read by Settings"


def test_rasa_reaches_the_action_server_by_the_endpoints_variable() -> None:
    rasa = _compose()["services"]["rasa-1"]
    assert rasa["environment"]["ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"
    assert "${ACTION_ENDPOINT_URL}" in (ROOT / "nlu" / "endpoints.yml").read_text()
