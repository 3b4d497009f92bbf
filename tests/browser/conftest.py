"""Fixtures of the browser tests: the real FAQ page process and headless Chromium.

The helpers are in ``tests/support/browser.py``; without the browser these tests skip with
what to install, and fail when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.browser import chromium, require_browser
from tests.support.processes import LOG_DIR, RunningService, free_port
from tools.stack import web_service


@pytest.fixture(scope="session")
async def faq_page(e2e_database: str) -> AsyncIterator[str]:
    """``python -m web`` on a free port, with Rasa unreachable (the keyword search answers)."""
    require_browser()
    port = free_port()
    env = {
        "WEB_PORT": str(port),
        "DATABASE_URL": e2e_database,
        "RASA_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "BOT_USERNAME": "ntsa_assistant_test_bot",
        "LOG_LEVEL": "INFO",
    }
    running = RunningService(
        web_service(port, env=env, log_path=LOG_DIR / "web.log"), f"http://127.0.0.1:{port}"
    )
    await running.start()
    yield running.url
    await running.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Chromium at a phone's size, with JavaScript."""
    require_browser()
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def browser_without_js(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Chromium at a phone's size, with JavaScript switched off."""
    require_browser()
    driver = chromium(tmp_path_factory.mktemp("chromium-profile-nojs"), javascript=False)
    yield driver
    driver.quit()
