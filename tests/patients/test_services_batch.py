"""The casebook write service in bulk (`casebook_changes_check` / `casebook_changes_write`):
the rules and the audit trail of `crf_row_save`, for many casebooks at once."""

import copy
import datetime as dt

from patients.models import CasebookSignature, FormState, FormStatus
from patients.services import (
    CasebookChange,
    RowChange,
    casebook_changes_check,
    casebook_changes_write,
    crf_row_delete,
    crf_row_save,
)
from tests import factories
from tests.patients.casebooks import full_casebook, state_of


def signed(patient, signer) -> CasebookSignature:
    return CasebookSignature.objects.create(patient=patient, signer=signer, meaning="I confirm the casebook.")


def stored_copy(row):
    """A stored row to change, as an import makes it (the stored instance left as it is)."""
    changed = copy.copy(row)
    changed._state = copy.copy(row._state)
    return changed


def history_entry(record) -> tuple:
    return (record.history_type, record.history_user_id, record.history_change_reason, record.version,
            record.ecog if hasattr(record, "ecog") else record.grade)


def batch_write(user, changes_by_patient: dict) -> list[CasebookChange]:
    casebooks = [CasebookChange(patient=patient, changes=changes) for patient, changes in changes_by_patient.items()]
    casebook_changes_check(user=user, casebooks=casebooks)
    casebook_changes_write(user=user, casebooks=casebooks)
    return casebooks


def test_the_batch_writes_what_crf_row_save_writes(investigator, center):
    one, other = (full_casebook(center, status=FormStatus.VERIFIED) for _n in range(2))
    for patient in (one, other):
        signed(patient, investigator)
    reason = "Source document re-read"

    baseline = one.baseline
    baseline.ecog = 2
    crf_row_save(user=investigator, row=baseline, reason=reason)
    event = factories.AdverseEventFactory.build(patient=one, grade=2)
    crf_row_save(user=investigator, row=event, reason=reason)

    changed = stored_copy(other.baseline)
    changed.ecog = 2
    new_event = factories.AdverseEventFactory.build(patient=other, grade=2)
    [casebook] = batch_write(investigator, {other: [RowChange(changed, reason), RowChange(new_event, reason)]})
    assert not casebook.has_problems

    assert [history_entry(record) for record in other.baseline.history.order_by("history_id")] == \
        [history_entry(record) for record in one.baseline.history.order_by("history_id")]
    assert [history_entry(record) for record in new_event.history.all()] == \
        [history_entry(record) for record in event.history.all()]
    assert new_event.history.get().history_type == "+" and other.baseline.history.first().history_type == "~"
    assert state_of(other, "baseline") == state_of(one, "baseline") == FormStatus.COMPLETE
    undone = FormState.objects.get(patient=other, form="baseline").history.first()
    assert (undone.history_user, undone.history_change_reason) == (investigator, "Data changed after verification")
    signatures = CasebookSignature.objects.filter(patient__in=[one, other])
    assert {(s.is_void, s.void_reason) for s in signatures} == {(True, f"Data changed after signing: {reason}")}
    assert casebook.changes[0].notices[0].startswith("This form was verified")


def test_a_locked_form_refuses_its_casebook_and_not_the_others_of_the_batch(coordinator, center):
    locked, open_ = full_casebook(center), full_casebook(center, status=FormStatus.IN_PROGRESS)
    FormState.objects.filter(patient=locked, form="baseline").update(status=FormStatus.LOCKED)
    changes = {}
    for patient in (locked, open_):
        baseline, follow_up = stored_copy(patient.baseline), stored_copy(patient.follow_up)
        baseline.ecog, follow_up.last_contact_date = 3, dt.date(2020, 2, 1)
        changes[patient] = [RowChange(follow_up, "Imported"), RowChange(baseline, "Imported")]
    refused, written = batch_write(coordinator, changes)

    assert refused.changes[1].problems == {"": ["This form is locked: a monitor must unlock it first."]}
    assert refused.changes[0].problems == {}  # the casebook is all or nothing: its follow-up is not written either
    locked.refresh_from_db()
    assert (locked.baseline.ecog, locked.follow_up.last_contact_date, locked.follow_up.version) != \
        (3, dt.date(2020, 2, 1), 2)
    assert not written.has_problems
    open_.baseline.refresh_from_db()
    open_.follow_up.refresh_from_db()
    assert (open_.baseline.ecog, open_.follow_up.last_contact_date, open_.baseline.version) == \
        (3, dt.date(2020, 2, 1), 2)


def test_each_row_is_checked_against_the_casebook_as_the_batch_leaves_it(coordinator, center):
    patient = full_casebook(center, status=FormStatus.IN_PROGRESS)
    follow_up = stored_copy(patient.follow_up)
    follow_up.last_contact_date = dt.date(2017, 3, 30)  # before the response, the HSCT, the AE
    [casebook] = batch_write(coordinator, {patient: [RowChange(follow_up, "Imported")]})
    assert casebook.changes[0].problems
    patient.follow_up.refresh_from_db()
    assert patient.follow_up.version == 1


def test_new_rows_of_a_batch_follow_each_patients_highest_instance(coordinator, center):
    one, other = full_casebook(center, status=FormStatus.IN_PROGRESS), full_casebook(center,
                                                                                     status=FormStatus.IN_PROGRESS)
    stored = list(one.adverse_events.order_by("repeat_instance"))
    crf_row_delete(user=coordinator, row=stored[-1], reason="Entered twice")
    new = {patient: [factories.AdverseEventFactory.build(patient=patient, grade=grade) for grade in (1, 2)]
           for patient in (one, other)}
    casebooks = batch_write(coordinator, {patient: [RowChange(row, "Imported") for row in rows]
                                          for patient, rows in new.items()})
    assert not any(casebook.has_problems for casebook in casebooks)
    for patient, rows in new.items():
        highest = len(stored) if patient == one else other.adverse_events.count() - 2
        assert [row.repeat_instance for row in rows] == [highest + 1, highest + 2]
        assert [row.history.get().repeat_instance for row in rows] == [highest + 1, highest + 2]
