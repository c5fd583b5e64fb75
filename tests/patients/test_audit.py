"""One audit trail: the casebook's audit page and the monitors' audit CSV list the same rows."""

import csv
import datetime as dt
import io

from django.test import Client
from django.urls import reverse

from outcomes.models import FollowUp
from patients.audit import audit_trail_rows, casebook_audit_trail
from patients.clinical import FREE_TEXT_MASK, IDENTIFIER_MASK
from patients.queries import query_raise
from patients.services import crf_row_delete, crf_row_save
from patients.workflow import form_verify
from tests import factories
from tests.patients.casebooks import full_casebook


def _csv_rows(user, study_id) -> list[dict]:
    text = io.StringIO()
    csv.writer(text).writerows(audit_trail_rows(user=user))
    return [row for row in csv.DictReader(io.StringIO(text.getvalue())) if row["study ID"] == study_id]


def test_the_audit_page_and_the_audit_csv_give_the_same_rows(coordinator, monitor, center, other_center):
    patient = full_casebook(center)
    full_casebook(other_center)
    follow_up = FollowUp.objects.get(patient=patient)
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    crf_row_save(user=coordinator, row=follow_up, reason="February visit", expected_version=1)
    patient.initials = "ZZ"
    crf_row_save(user=coordinator, row=patient, reason="typo in initials", expected_version=1)
    extra = factories.PriorLineFactory(patient=patient, line_number=2)
    crf_row_delete(user=coordinator, row=extra, reason="Duplicate entry", expected_version=1)
    form_verify(user=monitor, patient=patient, form="baseline")
    query_raise(user=monitor, patient=patient, form="follow_up", question="Date?", row=follow_up,
                field_name="last_contact_date")

    page = casebook_audit_trail(patient=patient, user=monitor)
    rows = _csv_rows(monitor, patient.study_id)

    def page_key(entry):
        changed = sorted(change.field_name for change in entry.changes)
        return (entry.record, str(entry.record_id), entry.action, entry.who, entry.reason, changed)

    def csv_key(row):
        changed = sorted(part.split(": ", 1)[0] for part in row["changes"].split("; ") if part)
        return (row["record"], row["record ID"], row["action"], row["user"], row["reason"], changed)

    assert sorted(map(page_key, page)) == sorted(map(csv_key, rows))
    assert {entry.action for entry in page} >= {"created", "changed", "deleted"}
    assert {entry.record for entry in page} >= {"form state", "data query", "patient", "prior therapy line"}
    # The page people read lists the same number of rows.
    client = Client()
    client.force_login(monitor)
    html = client.get(reverse("casebook:audit", args=[patient.study_id])).content.decode()
    assert html.split("<tbody>", 1)[1].count("<tr>") == len(rows)
    # A file never carries an identifier; the page shows it only to who may see it.
    initials = next(row for row in rows if row["reason"] == "typo in initials")
    assert initials["changes"] == f"initials: {IDENTIFIER_MASK} → {IDENTIFIER_MASK}"
    statistician_page = casebook_audit_trail(patient=patient, user=factories.UserFactory(role="statistician"))
    # Nor do reasons for change (free text, where an identifier can be typed).
    entry = next(entry for entry in statistician_page
                 if entry.action == "changed" and [c.field_name for c in entry.changes] == ["initials"])
    assert entry.reason == FREE_TEXT_MASK
    assert (entry.changes[0].old_shown, entry.changes[0].new_shown) == (IDENTIFIER_MASK, IDENTIFIER_MASK)
    change = next(entry for entry in page if entry.reason == "typo in initials").changes[0]
    assert change.new_shown == "ZZ"
