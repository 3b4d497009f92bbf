"""The FAQ page in a real browser: headless Chromium at a phone's size, with and without
JavaScript, against the real ``python -m web`` process."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ntsa_assistant.core.i18n import t
from tests.support.browser import (
    PHONE,
    WCAG_22_AA,
    axe_core_script,
    axe_results,
    describe_violations,
    is_open,
    save_screenshot,
    section_details,
    small_targets,
    viewport,
)
from web.app import page_text

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_page_in_each_language_fits_a_phone(browser: WebDriver, faq_page: str, lang: str):
    browser.get(f"{faq_page}/{lang}/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    assert browser.find_element(By.TAG_NAME, "h1").text == page_text(lang, "title")  # type: ignore[arg-type]
    width, _ = viewport(browser)
    assert width <= PHONE[0]
    # Nothing wider than the phone: no sideways scrolling.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    shot = save_screenshot(browser, f"faq-{lang}-phone")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_following_an_anchor_opens_its_section(browser: WebDriver, faq_page: str):
    browser.get(f"{faq_page}/en/#pending-transactions")
    assert is_open(section_details(browser, "pending-transactions"))
    assert not is_open(section_details(browser, "closure"))
    # Following another anchor on the same page opens that one too.
    browser.get(f"{faq_page}/en/#training")
    assert is_open(section_details(browser, "training"))


def test_following_an_anchor_without_javascript_opens_its_section(
    browser_without_js: WebDriver, faq_page: str
):
    browser_without_js.get(f"{faq_page}/sw/#pending-transactions")
    assert is_open(section_details(browser_without_js, "pending-transactions"))


@pytest.mark.parametrize(
    ("lang", "query", "anchor"),
    [
        ("en", "pending applications", "pending-transactions"),
        ("sw", "mafunzo ya bure", "training"),
    ],
)
def test_search_without_javascript_leads_to_the_topic(
    browser_without_js: WebDriver, faq_page: str, lang: str, query: str, anchor: str
):
    driver = browser_without_js
    driver.get(f"{faq_page}/{lang}/")
    box = driver.find_element(By.CSS_SELECTOR, "form[role=search] input[name=q]")
    box.send_keys(query)
    box.submit()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains(f"/{lang}/search?q="))
    # Rasa is unreachable here, so the keyword match answers with a list of topics.
    assert driver.find_element(By.TAG_NAME, "h1").text == page_text(lang, "results_title")  # type: ignore[arg-type]
    first = driver.find_element(By.CSS_SELECTOR, "ul.results a")
    assert first.get_attribute("href") == f"{faq_page}/{lang}/#{anchor}"
    first.click()
    WebDriverWait(driver, 20).until(expected_conditions.url_to_be(f"{faq_page}/{lang}/#{anchor}"))
    heading = driver.find_element(By.ID, f"{anchor}-title")
    top = driver.execute_script("return arguments[0].getBoundingClientRect().top", heading)
    assert 0 <= top < viewport(driver)[1]  # scrolled to the topic


def test_feedback_yes_is_thanked(browser: WebDriver, faq_page: str):
    browser.get(f"{faq_page}/en/#why-the-move")
    section = browser.find_element(By.ID, "why-the-move")
    section.find_element(By.CSS_SELECTOR, "button[name=helpful][value=yes]").click()
    # The click only starts the POST: wait for the page it lands on, not a moment.
    thanked = f"{faq_page}/en/?thanks=why-the-move#why-the-move"
    WebDriverWait(browser, 20).until(expected_conditions.url_to_be(thanked))
    thanks = browser.find_element(By.CSS_SELECTOR, "#why-the-move .thanks")
    assert thanks.text == t("en", "feedback.thanks")
    assert thanks.is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#why-the-move form")


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_no_accessibility_violations_at_wcag_22_aa(browser: WebDriver, faq_page: str, lang: str):
    assert axe_core_script().is_file()  # installed by make browser: nothing fetched now
    browser.get(f"{faq_page}/{lang}/#training")  # one section open, its form showing
    results, unknown = axe_results(browser, WCAG_22_AA)
    assert results["violations"] == [], describe_violations(results["violations"])
    assert unknown == []  # this axe-core has rules for every WCAG 2.2 AA tag
    # 2.5.8 (target size, new in WCAG 2.2) is measured here too, for every control shown.
    assert small_targets(browser) == []
