"""Helpers for the browser tests: Debian's headless Chromium driven by selenium, axe-core's
report, and the screenshots kept as test artifacts.

Nothing is downloaded at run time: the browser and its driver are Debian's packages
(``make browser``), named by path so selenium never looks for a driver of its own, and
axe-core is the copy that the axe-selenium-python wheel ships.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tools.stack import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "var" / "screenshots"
PHONE = (390, 844)  # a common phone's viewport, in CSS pixels
INSTALL_HINT = (
    "apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver"
    " (or run 'make browser' as root)"
)
# The WCAG 2.2 AA rule sets of axe-core.
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
_CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing_browser() -> str | None:
    """What is missing to run the browser tests, or None."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return f"the browser tests need {' and '.join(absent)}: {INSTALL_HINT}"


def require_browser() -> None:
    """Fails under CI (CI set), skips elsewhere, when the browser is not installed."""
    problem = missing_browser()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def chromium(profile: Path, *, javascript: bool = True, size: tuple[int, int] = PHONE) -> WebDriver:
    """A headless Chromium with a fresh profile in ``profile``, at ``size`` CSS pixels."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in _CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Headless windows are at least 500 px wide: a phone's viewport is emulated instead.
    options.add_argument(f"--window-size={max(size[0], 500)},{size[1]}")
    options.add_experimental_option(
        "mobileEmulation",
        {"deviceMetrics": {"width": size[0], "height": size[1], "pixelRatio": 3.0, "touch": False}},
    )
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(options=options, service=ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    return driver


def viewport(driver: WebDriver) -> tuple[int, int]:
    size = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    return int(size[0]), int(size[1])


def save_screenshot(driver: WebDriver, name: str) -> Path:
    """The whole visible page as ``var/screenshots/<name>.png`` (a test artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"no screenshot saved at {path}")
    return path


def section_details(driver: WebDriver, anchor: str) -> WebElement:
    """The ``<details>`` of the section whose anchor is ``anchor``."""
    element = driver.execute_script(
        "var s = document.getElementById(arguments[0]);"
        "if (!s) return null;"
        "return s.closest('details');",
        anchor,
    )
    if element is None:
        raise AssertionError(f"no <details> for the anchor #{anchor} on {driver.current_url}")
    return element


def is_open(details: WebElement) -> bool:
    return bool(details.get_property("open"))


AXE_CORE = ROOT / "var" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_core_script() -> Path:
    """The axe-core that ``make browser`` installed from the npm registry (never fetched at
    run time); the one inside axe-selenium-python for Python 3.11 knows only WCAG 2.0."""
    if not AXE_CORE.is_file():
        raise AssertionError(f"{AXE_CORE} is missing: run 'make browser' (it installs axe-core)")
    return AXE_CORE


def axe_results(
    driver: WebDriver, tags: Iterable[str] = WCAG_22_AA
) -> tuple[dict[str, Any], list[str]]:
    """axe-core's results for the page now shown with the rules of ``tags``, and the tags
    this axe-core has no rule for (none, with the axe-core ``make browser`` installs).
    axe-core's own refusal is raised, never waited out as a script timeout."""
    from axe_selenium_python import Axe

    Axe(driver, script_url=str(axe_core_script())).inject()
    wanted = list(tags)
    known = [
        tag
        for tag in wanted
        if driver.execute_script("return axe.getRules([arguments[0]]).length", tag)
    ]
    options = {"runOnly": {"type": "tag", "values": known}, "resultTypes": ["violations"]}
    driver.set_script_timeout(60)
    outcome = driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, arguments[0])"
        ".then(function (r) { done({results: r}); })"
        ".catch(function (e) { done({error: String(e)}); });",
        options,
    )
    if "error" in outcome:
        raise RuntimeError(f"axe-core {axe_version(driver)} refused to run: {outcome['error']}")
    return outcome["results"], [tag for tag in wanted if tag not in known]


def small_targets(driver: WebDriver, minimum: int = 24) -> list[str]:
    """Controls smaller than ``minimum`` CSS pixels either way (WCAG 2.2, 2.5.8), except
    links inside a sentence, which the criterion exempts."""
    return driver.execute_script(
        """
        var min = arguments[0], found = [];
        var controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
        document.querySelectorAll(controls).forEach(function (el) {
            var r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) return;  // not rendered (a closed section)
            var text = function (node) { return node.textContent.trim(); };
            if (el.tagName === 'A' && getComputedStyle(el).display === 'inline'
                && el.parentElement && text(el.parentElement) !== text(el)) return;
            if (r.width < min || r.height < min)
              found.push(el.outerHTML.slice(0, 120) + ' is '
                         + Math.round(r.width) + 'x' + Math.round(r.height));
          });
        return found;
        """,
        minimum,
    )


def axe_version(driver: WebDriver) -> str:
    return str(driver.execute_script("return window.axe ? axe.version : 'not injected'"))


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """axe-core's violations as lines a person can act on."""
    lines = [f"{len(violations)} accessibility violation(s):"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation.get('impact')}): {violation['help']}"
            f" [{', '.join(t for t in violation['tags'] if t.startswith('wcag'))}]"
            f" {violation.get('helpUrl', '')}"
        )
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    at {target}: {summary}")
            lines.append(f"      {node.get('html', '')[:200]}")
    return "\n".join(lines)
