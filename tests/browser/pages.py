"""What the layout and accessibility tests walk: signing in, the casebook's form pages (derived
from the casebook registry), and the page's own widths."""

from __future__ import annotations

from playwright.sync_api import expect

from patients.registry import casebook

PASSWORD = "pw-for-tests"
WIDE = {"width": 1366, "height": 900}
NARROW = {"width": 390, "height": 844}


def sign_in(page, base_url: str, username: str) -> None:
    """Sign in from the login page, in whatever language the browser asks for."""
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("nav.mainnav")).to_be_visible()


def form_page_paths(patient) -> list[tuple[str, str]]:
    """(name, path) of every form page of a patient's casebook: each single form's page, and a
    new and an existing row of each repeating form (where the casebook has one)."""
    paths = []
    base = f"/patients/{patient.study_id}/forms"
    for part in casebook.parts():
        if not part.repeating:
            paths.append((part.slug, f"{base}/{part.slug}/"))
            continue
        paths.append((f"{part.slug}-new", f"{base}/{part.slug}/new/"))
        row = part.model.objects.filter(patient_id=patient.pk).order_by("pk").first()
        if row is not None:
            paths.append((f"{part.slug}-edit", f"{base}/{part.slug}/{row.pk}/"))
    return paths


def page_overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def overflowing_elements(page, limit: int = 5) -> list[str]:
    """The innermost elements reaching past the window's right edge (what widens the page)."""
    return page.evaluate("""(limit) => {
      const clipped = element => {
        for (let parent = element.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
          if (getComputedStyle(parent).overflowX !== "visible") return true;
        }
        return false;
      };
      const wide = [...document.body.querySelectorAll("*")].filter(element => {
        const box = element.getBoundingClientRect();
        return box.width > 0 && box.right > window.innerWidth + 0.5 && !clipped(element);
      });
      const innermost = wide.filter(element => !wide.some(other => other !== element && element.contains(other)));
      return innermost.slice(0, limit).map(element => {
        const classes = element.className && typeof element.className === "string" ? "." + element.className.trim().split(/\\s+/).join(".") : "";
        return `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}${classes} (right ${Math.round(element.getBoundingClientRect().right)} px)`;
      });
    }""", limit)
