"""The Rasa project is consistent: `rasa data validate` is clean for the FAQ feature's
data, and the multi-turn test stories pass `rasa test core` on the trained model."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = Path(os.environ.get("NTSA_MODEL") or ROOT / "nlu" / "models" / "ntsa.tar.gz")
PROJECT = ["--config", "nlu/config.yml", "--domain", "nlu/domain", "--data", "nlu/data"]

# Names the FAQ feature owns: a validator warning that mentions one of them is ours.
FAQ_NAMES = re.compile(
    r"'(faq_\w+|greet|thank|goodbye|acknowledge|bot_capabilities|out_of_scope|"
    r"human_handoff|choose_language|set_language|action_answer_faq|action_show_faq_menu|"
    r"action_clarify|action_choose_language|action_set_language|faq_topic|language)'"
    r"|faq_nlu_\w+\.yml|faq_rules\.yml|faq\.yml"
)


def rasa(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    return subprocess.run(
        [str(RASA), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_rasa_data_validate_is_clean_for_the_faq_data() -> None:
    done = rasa("data", "validate", *PROJECT, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    ours = [
        line
        for line in output.splitlines()
        if ("UserWarning" in line or "WARNING" in line) and FAQ_NAMES.search(line)
    ]
    assert ours == [], "\n".join(ours)


def test_faq_test_stories_pass(tmp_path: Path) -> None:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run the tests with 'make test'")
    done = rasa(
        "test",
        "core",
        "--model",
        str(MODEL),
        "--stories",
        "nlu/tests/test_stories.yml",
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
        timeout=600,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text("utf-8") if failed.exists() else ""
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + details
    assert "- story" not in details, details
