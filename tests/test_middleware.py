"""The Content-Security-Policy on every page (no inline script or style in any template) and
`Cache-Control: no-store` on every answer that may carry identifiers."""

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from sites.services import api_token_create

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# Rendered by WeasyPrint into a PDF, never served to a browser.
NOT_SERVED_AS_HTML = {"analytics/report_pdf.html", "print/_base.html"}  # rendered to PDF only


def csp_directives(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    return {name: set(values) for name, *values in (part.split() for part in header.split(";") if part.strip())}


def test_no_template_holds_an_inline_script_or_style():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in NOT_SERVED_AS_HTML:
            continue
        text = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in match.group(0):
                offenders.append(f"{name}: {match.group(0)}")
        offenders += [f"{name}: {m.group(0)}" for m in re.finditer(r"<style\b|\sstyle=|\son[a-z]+=", text)]
    assert offenders == []


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/patients/", "/accounts/tokens/", "/api/patients/",
                                  "/api/docs/", "/admin/"])
def test_every_page_has_the_policy_without_inline_script_or_style(client, coordinator, path):
    client.force_login(coordinator)
    response = client.get(path)
    assert response.status_code in (200, 302)
    directives = csp_directives(response)
    assert directives["script-src"] == {"'self'"}
    assert directives["style-src"] == {"'self'"}
    assert directives["default-src"] == {"'self'"}
    assert directives["frame-ancestors"] == {"'none'"} and directives["object-src"] == {"'none'"}


def test_swagger_ui_starts_from_a_script_file(client, statistician):
    client.force_login(statistician)
    html = client.get("/api/docs/").content.decode()
    assert re.search(r'<script src="/api/docs/\?script=?"', html)
    assert client.get("/api/docs/?script").status_code == 200


def test_no_redoc_page_it_would_load_a_logo_from_a_cdn(client, statistician):
    client.force_login(statistician)
    assert client.get("/api/redoc/").status_code == 404


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_pages_of_a_signed_in_user_are_not_stored(client, coordinator, patient):
    client.force_login(coordinator)
    for path in ["/", "/patients/", f"/patients/{patient.study_id}/", "/accounts/tokens/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert no_store(response), path


def test_every_api_answer_is_not_stored(coordinator, patient):
    client = APIClient()
    obtained = client.post("/api/auth/token/", {"username": "coord-rm01", "password": "pw-for-tests"}, format="json")
    assert obtained.status_code == 200 and no_store(obtained)
    assert no_store(client.post("/api/auth/token/", {"username": "coord-rm01", "password": "x"}, format="json"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=coordinator)[1]}")
    for path in ["/api/patients/", f"/api/patients/{patient.study_id}/", "/api/no-such-thing/"]:
        assert no_store(client.get(path)), path
