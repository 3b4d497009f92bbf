"""What import-linter cannot say: the domain package serves no web requests itself.

import-linter forbids whole external packages only; the domain may use aiohttp's client
(SMS, the remote status API) but never its server, which belongs to the processes.
"""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "ntsa_assistant"
SERVER_MODULES = ("aiohttp.web",)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_collector_sees_both_import_forms(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import aiohttp.web\nfrom aiohttp import web\nfrom aiohttp import ClientSession\n"
    )
    assert imported_modules(sample) == {
        "aiohttp.web",
        "aiohttp",
        "aiohttp.ClientSession",
    }


def test_the_domain_package_imports_no_web_server() -> None:
    offenders = sorted(
        f"{path.relative_to(DOMAIN.parent)}: {module}"
        for path in DOMAIN.rglob("*.py")
        for module in imported_modules(path)
        if module.startswith(SERVER_MODULES)
    )
    assert offenders == []
