"""axe-core (shipped in axe-playwright-python, injected by Playwright: no CDN) on every page each
role reaches, in English and on a few pages in Italian: no serious or critical violation.

Each role's pages are found the way its users find them: from the home page, following every
link to a page of the app, one page per route (and per form of the casebook). The union of the
pages visited must cover every page route of the URL configuration, so a new page is checked
as soon as a link leads to it."""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.base import AxeResults
from axe_playwright_python.sync_playwright import DEFAULT_OPTIONS, Axe
from django.urls import Resolver404, get_resolver, resolve
from playwright.sync_api import expect

from analytics.models import ReportStatus
from analytics.services import report_run, report_start
from patients.queries import query_answer, query_raise
from redcap_api.site_import import import_run_execute, import_run_start
from sites.services import api_token_create
from tests.analytics.cohort import small_cohort
from tests.browser.pages import sign_in
from tests.patients.casebooks import full_casebook

# Committed rows: the live server answers from another thread (the role groups: conftest.role_groups).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLES = ("coordinator", "investigator", "monitor", "statistician", "administrator")
FAILING_IMPACTS = ("serious", "critical")
# Routes that are not pages: posts, downloads, the htmx progress fragment, JSON for scripts,
# the mid-sign-in and e-mail flows, and the API (its documentation is drf-spectacular's Swagger UI).
NOT_PAGES = {
    "logout", "set_language", "healthz", "casebook:status", "data_management:form-transition",
    "account:api-token-revoke", "account:two-factor-verify", "analytics:report-progress", "outcomes:ctcae-search",
    "patient_import:progress", "patient_import:confirm",
    "password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete",
}
NOT_PAGE_PREFIXES = ("api/", "admin/", "redcap/", "i18n/")
DOWNLOAD_SUFFIXES = (".csv", ".pdf", ".svg", ".json", ".xlsx", ".zip")
# Pages checked in Italian too (the first page of each of these routes a role visits).
ITALIAN_PAGES = {
    "home", "patients:list", "casebook:detail", "casebook:form", "casebook:row", "data_management:query-list",
    "data_management:query-detail", "data_management:dashboard", "data_management:sign", "analytics:report-detail",
    "exports:page", "account:api-tokens",
}
# Pages no link leads to.
EXTRA_PATHS = ("/accounts/password_change/done/", "/accounts/two-factor/setup/", "/no-such-page/")


def page_routes() -> set[str]:
    """The view names of every page route of the URL configuration."""
    names = set()

    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route, namespace + (f"{pattern.namespace}:" if pattern.namespace else ""))
            elif pattern.name and not route.startswith(NOT_PAGE_PREFIXES) and not route.endswith(DOWNLOAD_SUFFIXES):
                name = namespace + pattern.name
                if name not in NOT_PAGES:
                    names.add(name)

    walk(get_resolver().url_patterns)
    return names


def route_key(url: str, origin: str) -> tuple[str, str] | None:
    """(view name, the form's slug) of a page of the app, None for anything else."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin or parts.path.endswith(DOWNLOAD_SUFFIXES):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if not match.view_name or match.view_name in NOT_PAGES or parts.path.lstrip("/").startswith(NOT_PAGE_PREFIXES):
        return None
    return match.view_name, match.kwargs.get("slug", "")


def describe(violation: dict) -> str:
    nodes = violation["nodes"]
    where = "; ".join(
        f"{' '.join(node['target'])}: {node.get('failureSummary', '').replace(chr(10), ' ')}" for node in nodes[:3]
    )
    more = f" (and {len(nodes) - 3} more)" if len(nodes) > 3 else ""
    return f"{violation['id']} ({violation['impact']}): {violation['help']} — {where}{more}"


class AxeWalk:
    """axe-core on each page visited; what it finds, by page."""

    def __init__(self):
        self.script = Axe().axe_script
        self.failures: list[str] = []
        self.minor: dict[str, set[str]] = {}
        self.pages = 0

    def check(self, page, label: str) -> None:
        expect(page.locator("body")).to_be_visible()
        results = AxeResults(page.evaluate("options => axe.run(document, options)", DEFAULT_OPTIONS)).response
        self.pages += 1
        for violation in results["violations"]:
            if violation["impact"] in FAILING_IMPACTS:
                self.failures.append(f"{label} {page.url}\n    {describe(violation)}")
            else:
                self.minor.setdefault(f"{violation['id']} ({violation['impact']})", set()).add(urlsplit(page.url).path)

    def prepare(self, context) -> None:
        """axe-core in every page of the context, loaded once with the page."""
        context.add_init_script(self.script)

    def crawl(self, page, origin: str, label: str, visited: set) -> list[str]:
        """Visit every page reachable by links from the current page: each route once, and each
        form of the casebook once for the first role reaching it (`visited`: the routes and forms
        checked so far, by any role). Return the URLs visited."""
        urls = []
        queue = deque([page.url, *(origin + path for path in EXTRA_PATHS)])
        seen = set()
        while queue:
            url = queue.popleft()
            key = route_key(url, origin)
            if key is None:
                if not url.endswith("/no-such-page/") or None in seen:
                    continue
            elif key in seen or (key in visited and key[0] in {seen_key[0] for seen_key in seen if seen_key}):
                continue
            seen.add(key)
            if page.url != url:
                page.goto(url)
            self.check(page, label)
            urls.append(url)
            if key:
                visited.add(key)
            links = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href.split('#')[0])")
            queue.extend(link for link in links if route_key(link, origin) not in seen)
        return urls


def test_no_serious_or_critical_axe_violation_on_any_page_of_any_role(
    live_server, browser, request, center, coordinator, investigator, monitor, statistician, administrator
):
    origin = live_server.url
    patient = full_casebook(center)
    query, _ = query_raise(user=monitor, patient=patient, form="follow_up", field_name="last_contact_date",
                           row=patient.follow_up, question="Please check the date of last contact.")
    query_answer(user=coordinator, query=query, text="Checked against the chart.")
    small_cohort(center)
    report = report_run(report_id=report_start(user=statistician, cutoff=dt.date(2024, 1, 1), enqueue=False).pk)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    # a site file the coordinator has tried: its dry run's page, with the problems found
    import_run_execute(run_id=import_run_start(user=coordinator, file_name="site.csv",
                                               content=b"study_id,ecog\nRM01-999,7\n").pk)
    users = {role: request.getfixturevalue(role) for role in ROLES}
    for user in users.values():
        api_token_create(user=user, name="analysis scripts")

    started = time.monotonic()
    walk = AxeWalk()
    visited: set[tuple[str, str]] = set()
    anonymous = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    walk.prepare(anonymous)
    page = anonymous.new_page()
    for language in ("en", "it"):
        anonymous.add_cookies([{"name": "django_language", "value": language, "url": origin}])
        page.goto(f"{origin}/accounts/login/")
        walk.check(page, f"anonymous {language}")
    visited.add(("login", ""))
    anonymous.close()

    for role, user in users.items():
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
        context.set_default_timeout(15_000)
        walk.prepare(context)
        page = context.new_page()
        sign_in(page, origin, user.username)
        urls = walk.crawl(page, origin, f"{role} en", visited)
        context.add_cookies([{"name": "django_language", "value": "it", "url": origin}])
        italian = {}
        for url in urls:
            key = route_key(url, origin)
            if key and key[0] in ITALIAN_PAGES:
                italian.setdefault(key[0], url)
        for url in italian.values():
            page.goto(url)
            walk.check(page, f"{role} it")
        context.close()

    print(f"axe-core: {walk.pages} pages checked in {time.monotonic() - started:.0f} s; moderate and minor findings:")
    for finding, paths in sorted(walk.minor.items()):
        print(f"  {finding}: {len(paths)} pages, e.g. {sorted(paths)[0]}")
    assert not walk.failures, "Serious or critical axe-core violations:\n" + "\n".join(walk.failures)
    assert page_routes() - {name for name, _slug in visited} == set(), "Pages no role reached by a link"
