"""Known vulnerabilities in both environments (``make audit``, part of ``make test``).

Runs pip-audit (from the app environment) over the exact packages of ``.venv`` and of
``.venv-rasa``:

- our environment: any known vulnerability fails;
- Rasa's environment: a vulnerability fails only when a fixed version is allowed by what
  Rasa and its dependencies require (then ``nlu/constraints.txt`` should move to it); one that
  Rasa's own pins keep is listed as such (see the README) and does not fail.

pip-audit needs its vulnerability service over the network. When it cannot reach it (it
then reports every package as "could not be audited" and would exit 0), this says so in
capitals with the reason, and exits 0 unless ``AUDIT_REQUIRED=1`` (then 3): an audit that
did not happen never passes as a clean one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"
ENVIRONMENTS = {"app (.venv)": ROOT / ".venv", "rasa (.venv-rasa)": ROOT / ".venv-rasa"}
EXIT_VULNERABLE, EXIT_NOT_AUDITED = 1, 3

# Run by the Rasa environment's Python: every installed distribution's requirements that
# apply there, as {dependency: [[required_by, specifier], ...]}.
_PINS_SCRIPT = """
import json
from importlib.metadata import distributions
from packaging.requirements import Requirement
pins = {}
for dist in distributions():
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except Exception:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if str(req.specifier):
            pins.setdefault(req.name, []).append([dist.metadata["Name"], str(req.specifier)])
print(json.dumps(pins))
"""


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vuln_id: str
    fix_versions: tuple[str, ...]
    pinned_by: str | None = None  # who keeps it from a fixed version


@dataclass
class Audit:
    environment: str
    packages: int = 0
    findings: list[Finding] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)  # skip reasons
    error: str | None = None


def frozen(venv: Path) -> str:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run_pip_audit(requirements: str) -> tuple[dict[str, object] | None, str]:
    """pip-audit's JSON report of ``requirements`` (None when it produced none), and stderr."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as file:
        file.write(requirements)
        file.flush()
        done = subprocess.run(
            [
                str(PIP_AUDIT),
                *("-r", file.name, "--no-deps", "--disable-pip"),
                *("--format", "json", "--progress-spinner", "off"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    try:
        return json.loads(done.stdout), done.stderr
    except json.JSONDecodeError:
        return None, done.stderr or done.stdout


def parse_report(environment: str, report: dict[str, object]) -> Audit:
    audit = Audit(environment)
    dependencies = report.get("dependencies")
    for dep in dependencies if isinstance(dependencies, list) else []:
        audit.packages += 1
        if dep.get("skip_reason"):
            audit.unaudited.append(str(dep["skip_reason"]))
            continue
        for vuln in dep.get("vulns") or []:
            audit.findings.append(
                Finding(
                    dep["name"],
                    dep.get("version", "?"),
                    vuln.get("id", "?"),
                    tuple(vuln.get("fix_versions") or ()),
                )
            )
    return audit


def blocking_pin(finding: Finding, pins: dict[str, list[list[str]]]) -> str | None:
    """Who, among the environment's requirements, allows none of the fixed versions."""
    if not finding.fix_versions:
        return None
    wanted = canonicalize_name(finding.package)
    for name, requirements in pins.items():
        if canonicalize_name(name) != wanted:
            continue
        for required_by, specifier in requirements:
            try:
                spec = Requirement(f"x{specifier}").specifier
                fixes = [Version(v) for v in finding.fix_versions]
            except (InvalidRequirement, InvalidVersion):
                continue
            if not any(spec.contains(v, prereleases=True) for v in fixes):
                return f"{required_by} requires {finding.package}{specifier}"
    return None


def rasa_pins(venv: Path) -> dict[str, list[list[str]]]:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _PINS_SCRIPT],
        check=True,
        capture_output=True,
        text=True,
    )
    pins: dict[str, list[list[str]]] = json.loads(done.stdout)
    return pins


def audit_environment(environment: str, venv: Path) -> Audit:
    if not (venv / "bin" / "python").exists():
        return Audit(environment, error=f"{venv} does not exist (run make setup)")
    report, stderr = run_pip_audit(frozen(venv))
    if report is None:
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        return Audit(environment, error=f"pip-audit failed: {last[0]}")
    audit = parse_report(environment, report)
    if venv.name == ".venv-rasa" and audit.findings:
        pins = rasa_pins(venv)
        audit.findings = [
            Finding(f.package, f.version, f.vuln_id, f.fix_versions, blocking_pin(f, pins))
            for f in audit.findings
        ]
    return audit


def verdict(audits: list[Audit], required: bool) -> tuple[int, list[str]]:
    """The exit status and the lines to print."""
    lines: list[str] = []
    status = 0
    for audit in audits:
        if audit.error is not None:
            lines.append(f"{audit.environment}: NOT AUDITED — {audit.error}")
            status = max(status, EXIT_NOT_AUDITED if required else 0)
            continue
        for f in audit.findings:
            fixes = ", ".join(f.fix_versions) or "no fix yet"
            where = f"{audit.environment}: {f.package} {f.version} {f.vuln_id} (fixed in {fixes})"
            if f.pinned_by is not None:
                lines.append(f"{where}: kept by Rasa's pins ({f.pinned_by}); see README")
            else:
                lines.append(f"{where}: VULNERABLE — upgrade it")
                status = EXIT_VULNERABLE
        if audit.unaudited:
            lines.append(
                f"{audit.environment}: NOT AUDITED — {len(audit.unaudited)} of "
                f"{audit.packages} packages could not be checked, because pip-audit could not "
                f"get their vulnerability data (first: '{audit.unaudited[0]}'); "
                "is PyPI's JSON API (pip-audit's service) reachable from here? See README."
            )
            status = max(status, EXIT_NOT_AUDITED if required else 0)
        elif not audit.findings:
            lines.append(f"{audit.environment}: {audit.packages} packages, no known vulnerability")
    if status == 0 and any(a.error or a.unaudited for a in audits):
        lines.append("audit: INCOMPLETE (set AUDIT_REQUIRED=1 to make that fail)")
    return status, lines


def main() -> int:
    if not PIP_AUDIT.exists():
        print("audit: pip-audit is missing from .venv (make setup installs it)", file=sys.stderr)
        return EXIT_NOT_AUDITED
    audits = [audit_environment(name, venv) for name, venv in ENVIRONMENTS.items()]
    status, lines = verdict(audits, os.environ.get("AUDIT_REQUIRED", "") == "1")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
