"""The Rasa project is consistent: `rasa data validate` raises no warning beyond the few
accepted on purpose, and the multi-turn test stories pass `rasa test core`."""

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

# The only warnings we accept, each on purpose:
# - intents reached only by buttons the bot made (or the gateway's contact payload) have
#   no NLU examples, so typed text such as a person's name is never read as one of them;
# - intents consumed inside a form (by its validation or slot mappings) need no rule.
BUTTON_ONLY = {
    "contact_shared",
    "training_cancel_confirmed",
    "training_choose",
    "training_confirm",
    "training_keep",
    "training_move_to",
    "training_skip",
    "training_stop",
}
FORM_INTERNAL = {"status_cancel", "status_send_code", "training_confirm", "training_skip"}
ACCEPTED = {
    f"The intent '{name}' is listed in the domain file, but is not found in the NLU training data."
    for name in BUTTON_ONLY
} | {f"The intent '{name}' is not used in any story or rule." for name in FORM_INTERNAL}
_WARNING = re.compile(r"UserWarning: (.*?)(?:\x1b\[0m)?$")


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


def test_rasa_data_validate_is_clean() -> None:
    done = rasa("data", "validate", *PROJECT, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    warnings = {m.group(1).strip() for m in map(_WARNING.search, output.splitlines()) if m}
    unexpected = sorted(w for w in warnings if w.startswith("The ") and w not in ACCEPTED)
    assert unexpected == [], "\n".join(unexpected)


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
