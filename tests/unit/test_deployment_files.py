"""docker-compose.yml and the Makefile stay in step with the settings contract."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from ntsa_assistant.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_four_services_with_healthchecks() -> None:
    services = _compose()["services"]
    for name in ("postgres", "rasa", "actions", "bot"):
        assert name in services
    for name in ("postgres", "rasa", "actions"):
        assert "healthcheck" in services[name], name
    assert "pgdata" in _compose()["volumes"]


def test_every_app_variable_in_compose_is_a_setting() -> None:
    services = _compose()["services"]
    known = {name.upper() for name in Settings.model_fields}
    for name in ("bot", "actions"):
        unknown = set(services[name]["environment"]) - known
        assert not unknown, f"{name}: {unknown} are not read by Settings"


def test_rasa_reaches_the_action_server_by_the_endpoints_variable() -> None:
    rasa = _compose()["services"]["rasa"]
    assert rasa["environment"]["ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"
    assert "${ACTION_ENDPOINT_URL}" in (ROOT / "nlu" / "endpoints.yml").read_text()
