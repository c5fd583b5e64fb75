"""Playwright (sync API) driving the Debian chromium against pytest-django's live server."""

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def browser():
    """Chromium for the tests of one module. Playwright's sync API runs an event loop in this
    thread while it is open: the ORM calls of the tests and fixtures are safe (they are not
    concurrent), so Django's async guard is lifted for that time only, and never leaks into
    other tests or their subprocesses."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
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
def new_page(browser):
    """Pages in fresh browser contexts (one per signed-in user), closed after the test."""
    contexts = []

    def make(locale: str = "en-GB"):
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


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
