"""Dependencies: the app environment is pinned, the audit step fails on a known
vulnerability of ours and never passes an audit that did not happen, and the compose
database has no default password."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML

from tools.audit import EXIT_NOT_AUDITED, EXIT_VULNERABLE, blocking_pin, parse_report, verdict

ROOT = Path(__file__).resolve().parents[2]


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_every_app_requirement_is_pinned_and_allowed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = pinned()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {text}"


def test_make_installs_the_app_with_the_constraints_and_audits_in_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[dev]' -c constraints.txt" in makefile
    assert re.search(r"^test: .*\baudit\b", makefile, re.MULTILINE)
    assert "-c constraints.txt" in (ROOT / "Dockerfile").read_text()


def test_compose_has_no_default_database_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:-" not in text
    compose = YAML(typ="safe").load(text)
    postgres = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert postgres.startswith("${POSTGRES_PASSWORD:?")
    assert re.search(r"^POSTGRES_PASSWORD=$", (ROOT / ".env.example").read_text(), re.MULTILINE)


def report(*dependencies: dict[str, object]) -> dict[str, object]:
    return {"dependencies": list(dependencies), "fixes": []}


AIOHTTP_VULN = {
    "name": "aiohttp",
    "version": "3.9.5",
    "vulns": [{"id": "GHSA-0000-test", "fix_versions": ["3.10.11"]}],
}


def test_a_vulnerability_in_our_environment_fails() -> None:
    audit = parse_report("app (.venv)", report(AIOHTTP_VULN, {"name": "x", "version": "1"}))
    status, lines = verdict([audit], required=False)
    assert status == EXIT_VULNERABLE
    assert lines == [
        "app (.venv): aiohttp 3.9.5 GHSA-0000-test (fixed in 3.10.11): VULNERABLE — upgrade it"
    ]


def test_a_vulnerability_rasa_pins_is_listed_without_failing() -> None:
    audit = parse_report("rasa (.venv-rasa)", report(AIOHTTP_VULN))
    pins = {"aiohttp": [["rasa", "<3.10,>=3.9.0"]]}
    audit.findings = [
        type(f)(f.package, f.version, f.vuln_id, f.fix_versions, blocking_pin(f, pins))
        for f in audit.findings
    ]
    status, lines = verdict([audit], required=True)
    assert status == 0
    assert lines == [
        "rasa (.venv-rasa): aiohttp 3.9.5 GHSA-0000-test (fixed in 3.10.11): kept by Rasa's "
        "pins (rasa requires aiohttp<3.10,>=3.9.0); see README"
    ]


def test_a_rasa_vulnerability_with_an_allowed_fix_fails() -> None:
    [finding] = parse_report("rasa", report(AIOHTTP_VULN)).findings
    assert blocking_pin(finding, {"aiohttp": [["rasa", "<4,>=3.9.0"]]}) is None


@pytest.mark.parametrize(("required", "status"), [(False, 0), (True, EXIT_NOT_AUDITED)])
def test_an_unreachable_vulnerability_service_is_said_plainly(required: bool, status: int) -> None:
    skipped = "Dependency not found on PyPI and could not be audited: aiohttp (3.9.5)"
    audit = parse_report("app (.venv)", report({"name": "aiohttp", "skip_reason": skipped}))
    got, lines = verdict([audit], required=required)
    assert got == status
    assert lines[0] == (
        "app (.venv): NOT AUDITED — 1 of 1 packages could not be checked, because pip-audit "
        f"could not get their vulnerability data (first: '{skipped}'); is PyPI's JSON API "
        "(pip-audit's service) reachable from here? See README."
    )
    incomplete = "audit: INCOMPLETE (set AUDIT_REQUIRED=1 to make that fail)"
    assert lines[1:] == ([] if required else [incomplete])
