"""Playwright (sync API) driving the Debian chromium against pytest-django's live server."""

import os
import re
from pathlib import Path

import pytest
from django.urls import get_resolver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# How chromium's console reports a blocked inline script or style, or a resource of another origin.
CSP_VIOLATION = re.compile(r"Content Security Policy", re.IGNORECASE)
# The page's own report of each violation (the securitypolicyviolation event), in case the
# browser's message changes wording: the check does not depend on it.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("Content Security Policy violation: " + event.violatedDirective + " blocked " +
                (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture(scope="module")
def browser():
    """Chromium for the tests of one module. Playwright's sync API runs an event loop in this
    thread while it is open: the ORM calls of the tests and fixtures are safe (they are not
    concurrent), so Django's async guard is lifted for that time only, and never leaks into
    other tests or their subprocesses."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    # The live server's first request imports every view (pandas, matplotlib, WeasyPrint: over
    # ten seconds on a busy machine), which the first page load of a module would wait for
    # within its timeout: import them here, before any page.
    get_resolver().url_patterns  # noqa: B018
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def csp_violations():
    """What the console of the test's pages reported as Content-Security-Policy violations."""
    return []


@pytest.fixture
def new_page(browser, csp_violations):
    """Pages in fresh browser contexts (one per signed-in user), closed after the test. A page
    whose console reports a Content-Security-Policy violation fails the test."""
    contexts = []

    def record_violation(message):
        if CSP_VIOLATION.search(message.text):
            csp_violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def make(locale: str = "en-GB"):
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
        context.set_default_timeout(15_000)
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", record_violation)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    if csp_violations:
        pytest.fail("The pages reported Content-Security-Policy violations:\n" + "\n".join(csp_violations))


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        # From the top: sticky elements are drawn where the last scroll left them.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The role groups of the data migration sites/0002_roles: the flush that ends each
    transactional test (here and elsewhere) removes them, so each browser test makes sure."""
    from django.contrib.auth.models import Group

    from sites.roles import Role

    for role in Role:
        Group.objects.get_or_create(name=role.value)
