"""The casebook as the browser shows it: which forms it has, in which order, with which
columns, the whole casebook of a patient loaded in a fixed number of queries, and its
audit trail.

It lives in `outcomes`, the top clinical app, because it brings together the models of
`patients`, `treatments` and `outcomes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby

from django.db import models
from django.db.models import Model, Prefetch
from django.shortcuts import get_object_or_404
from django.utils.formats import date_format, number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inocd22.clinical import is_direct_identifier
from inocd22.clinical import row_label as clinical_row_label
from outcomes.forms import AdverseEventForm, FollowUpForm, ResponseForm, VodForm
from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from outcomes.selectors import best_response_from
from patients.forms import BaselineForm, PatientEditForm
from patients.models import BaselineDisease, FormKey, FormState, FormStatus, Patient
from patients.selectors import patient_list_for_user
from sites.roles import can_see_identifiers
from treatments.forms import EndOfTreatmentForm, HsctForm, IOCycleForm, PriorLineForm
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine, ResponseCategory

HIDDEN = "•••"


def show_value(model_field, value) -> str:
    """A stored value as the page shows it, in the active language."""
    if value is None or value == "":
        return "—"
    if getattr(model_field, "flatchoices", None):
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.datetime):
        return date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal):
        # 0.40 and 0.4 are the same dose: show the shortest form.
        return number_format(value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize())
    return str(value)


def days_from_c1d1(patient: Patient, day: dt.date | None) -> int | None:
    """Days from IO cycle 1 day 1 (day 0) to `day` (derived, never typed)."""
    if not (patient.c1d1_date and day):
        return None
    return (day - patient.c1d1_date).days


@dataclass(frozen=True)
class Column:
    label: str | Promise
    value: Callable[[Model, Patient], str]
    numeric: bool = False
    derived: bool = False
    nowrap: bool = False  # dates and numbers stay on one line
    field_name: str = ""  # the question shown, where data queries on it are flagged


def field_column(model: type[Model], name: str, *, numeric: bool = False) -> Column:
    model_field = model._meta.get_field(name)
    return Column(
        model_field.verbose_name,
        lambda row, patient: show_value(model_field, getattr(row, name)),
        numeric,
        nowrap=numeric or isinstance(model_field, models.DateField),
        field_name=name,
    )


def day_column(date_field: str) -> Column:
    def value(row, patient):
        days = days_from_c1d1(patient, getattr(row, date_field))
        return "—" if days is None else f"{days:+d}"

    return Column(gettext_lazy("Days from C1D1"), value, numeric=True, derived=True, nowrap=True)


@dataclass(frozen=True)
class FormSpec:
    """One form (or, for IO cycles, one part of a form) of the casebook."""

    slug: str
    key: FormKey
    model: type[Model]
    form_class: type
    repeating: bool
    title: str | Promise
    columns: tuple[Column, ...] = ()
    add_label: str | Promise = ""

    @property
    def related_name(self) -> str:
        return self.model._meta.get_field("patient").remote_field.related_name

    def row_label(self, row) -> str:
        """The row (or a historical record of it) as a person names it: "IO cycle 2"."""
        return clinical_row_label(self.model, row)


def _total_dose(row, patient) -> str:
    return show_value(None, row.total_dose)


def _organ_class(row, patient) -> str:
    return str(row.organ_class.label)


def _haematologic(row, patient) -> str:
    return show_value(None, row.is_haematologic)


SPECS: tuple[FormSpec, ...] = (
    FormSpec("enrollment", FormKey.ENROLLMENT, Patient, PatientEditForm, False, FormKey.ENROLLMENT.label),
    FormSpec("baseline", FormKey.BASELINE, BaselineDisease, BaselineForm, False, FormKey.BASELINE.label),
    FormSpec(
        "prior-lines",
        FormKey.PRIOR_LINES,
        PriorTherapyLine,
        PriorLineForm,
        True,
        FormKey.PRIOR_LINES.label,
        columns=(
            field_column(PriorTherapyLine, "line_number", numeric=True),
            field_column(PriorTherapyLine, "category"),
            field_column(PriorTherapyLine, "regimen"),
            field_column(PriorTherapyLine, "start_date"),
            field_column(PriorTherapyLine, "end_date"),
            field_column(PriorTherapyLine, "best_response"),
        ),
        add_label=gettext_lazy("Add a prior line"),
    ),
    FormSpec(
        "io-cycles",
        FormKey.IO_CYCLES,
        IOCycle,
        IOCycleForm,
        True,
        FormKey.IO_CYCLES.label,
        columns=(
            field_column(IOCycle, "cycle_number", numeric=True),
            field_column(IOCycle, "start_date"),
            day_column("start_date"),
            field_column(IOCycle, "dose_day1", numeric=True),
            field_column(IOCycle, "dose_day8", numeric=True),
            field_column(IOCycle, "dose_day15", numeric=True),
            Column(gettext_lazy("Total dose (mg/m²)"), _total_dose, numeric=True, derived=True),
            field_column(IOCycle, "delayed"),
            field_column(IOCycle, "dose_reduced"),
            field_column(IOCycle, "modification_reason"),
        ),
        add_label=gettext_lazy("Add a cycle"),
    ),
    FormSpec(
        "end-of-treatment",
        FormKey.IO_CYCLES,
        EndOfTreatment,
        EndOfTreatmentForm,
        False,
        gettext_lazy("End of IO treatment"),
    ),
    FormSpec(
        "responses",
        FormKey.RESPONSES,
        ResponseAssessment,
        ResponseForm,
        True,
        FormKey.RESPONSES.label,
        columns=(
            field_column(ResponseAssessment, "assessment_date"),
            day_column("assessment_date"),
            field_column(ResponseAssessment, "marrow_blasts_pct", numeric=True),
            field_column(ResponseAssessment, "response"),
            field_column(ResponseAssessment, "mrd_status"),
            field_column(ResponseAssessment, "mrd_method"),
        ),
        add_label=gettext_lazy("Add an assessment"),
    ),
    FormSpec("hsct", FormKey.HSCT, AlloHsct, HsctForm, False, FormKey.HSCT.label),
    FormSpec(
        "adverse-events",
        FormKey.ADVERSE_EVENTS,
        AdverseEvent,
        AdverseEventForm,
        True,
        FormKey.ADVERSE_EVENTS.label,
        columns=(
            field_column(AdverseEvent, "term"),
            Column(gettext_lazy("System organ class"), _organ_class, derived=True),
            Column(gettext_lazy("Haematologic"), _haematologic, derived=True),
            field_column(AdverseEvent, "grade", numeric=True),
            field_column(AdverseEvent, "onset_date"),
            day_column("onset_date"),
            field_column(AdverseEvent, "resolution_date"),
            field_column(AdverseEvent, "serious"),
            field_column(AdverseEvent, "relation"),
        ),
        add_label=gettext_lazy("Add an adverse event"),
    ),
    FormSpec(
        "vod-sos",
        FormKey.VOD_SOS,
        VodSosEvent,
        VodForm,
        True,
        FormKey.VOD_SOS.label,
        columns=(
            field_column(VodSosEvent, "diagnosis_date"),
            day_column("diagnosis_date"),
            field_column(VodSosEvent, "criteria"),
            field_column(VodSosEvent, "severity"),
            field_column(VodSosEvent, "setting"),
            field_column(VodSosEvent, "defibrotide"),
            field_column(VodSosEvent, "outcome"),
        ),
        add_label=gettext_lazy("Add a VOD/SOS event"),
    ),
    FormSpec("follow-up", FormKey.FOLLOW_UP, FollowUp, FollowUpForm, False, FormKey.FOLLOW_UP.label),
)
SPECS_BY_SLUG = {spec.slug: spec for spec in SPECS}
FORM_COUNT = len(FormKey)
COMPLETE_STATES = (FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED)


def live_rows(patient: Patient, spec: FormSpec) -> list:
    """The rows of a repeating form (prefetched by `casebook_patient_get`)."""
    return list(getattr(patient, spec.related_name).all())


def single_row(patient: Patient, spec: FormSpec):
    if spec.model is Patient:
        return patient
    try:
        row = getattr(patient, spec.related_name)
    except spec.model.DoesNotExist:
        return None
    return None if row.is_deleted else row


def casebook_patient_get(*, user, study_id: str) -> Patient:
    """The patient with every form row and form state, in a fixed number of queries;
    404 when the user may not see the patient (through the scoped selector)."""
    singles = [spec.related_name for spec in SPECS if not spec.repeating and spec.model is not Patient]
    repeating = [
        Prefetch(spec.related_name, queryset=spec.model.objects.filter(is_deleted=False))
        for spec in SPECS
        if spec.repeating
    ]
    patients = patient_list_for_user(user=user).select_related(*singles).prefetch_related(*repeating, "form_states")
    return get_object_or_404(patients, study_id=study_id)


@dataclass
class Section:
    """One form of the casebook page: its state and its parts (IO cycles have two)."""

    key: FormKey
    state: FormState | None
    parts: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.state.status if self.state else "empty"

    @property
    def status_label(self) -> str:
        return str(self.state.get_status_display()) if self.state else _("Empty")

    @property
    def is_complete(self) -> bool:
        return self.status in COMPLETE_STATES

    @property
    def is_locked(self) -> bool:
        return self.status == FormStatus.LOCKED


def casebook_sections(patient: Patient, *, user, queried_fields: frozenset | set = frozenset()) -> list[Section]:
    """The casebook's forms with their rows. `queried_fields`, (form, field name) pairs of
    open queries, keeps those questions of a single form on the page even when empty."""
    states = {state.form: state for state in patient.form_states.all()}
    sections: dict[str, Section] = {}
    for spec in SPECS:
        section = sections.setdefault(spec.key, Section(key=spec.key, state=states.get(spec.key)))
        if spec.repeating:
            classes = [
                " ".join(name for name, on in (("num", column.numeric), ("nowrap", column.nowrap)) if on)
                for column in spec.columns
            ]
            section.parts.append(
                {
                    "spec": spec,
                    "rows": [
                        (
                            row,
                            [
                                (column.value(row, patient), css_class, column.field_name)
                                for column, css_class in zip(spec.columns, classes, strict=True)
                            ],
                        )
                        for row in live_rows(patient, spec)
                    ],
                }
            )
        else:
            row = single_row(patient, spec)
            keep = frozenset(name for form, name in queried_fields if form == spec.key)
            section.parts.append({"spec": spec, "row": row, "fields": single_fields(spec, row, user=user, keep=keep)})
    return list(sections.values())


def single_fields(spec: FormSpec, row, *, user, keep: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(field name, question, answer) of a single form's row, identifiers hidden from who may
    not see them. An empty answer is left out (the question did not apply) unless in `keep`."""
    if row is None:
        return []
    shown = can_see_identifiers(user)
    answers = []
    for name in spec.form_class._meta.fields:
        model_field = spec.model._meta.get_field(name)
        value = getattr(row, name)
        if value in (None, "") and (model_field.null or model_field.blank) and name not in keep:
            continue  # a question that did not apply
        answers.append(
            (name, model_field.verbose_name, HIDDEN if is_direct_identifier(model_field) and not shown else show_value(model_field, value))
        )
    return answers


def best_response_on_io(patient: Patient) -> str | None:
    """Best response before the HSCT, from the prefetched rows (outcomes.selectors.best_response_from)."""
    hsct = single_row(patient, SPECS_BY_SLUG["hsct"])
    hsct_date = hsct.hsct_date if hsct and hsct.performed else None
    pairs = [(row.assessment_date, row.response) for row in live_rows(patient, SPECS_BY_SLUG["responses"])]
    best = best_response_from(pairs, hsct_date=hsct_date)
    return ResponseCategory(best).label if best else None


# -- audit trail --------------------------------------------------------------------------

AUDIT_SKIPPED_FIELDS = frozenset(
    {"version", "created_at", "updated_at", "changed_at", "id", "patient", "sequence", "study_id", "center", "form", "changed_by"}
)


@dataclass
class AuditEntry:
    when: dt.datetime
    who: str
    form: str
    row: str
    action: str
    changes: list[tuple[str, str, str]]
    reason: str


def _audit_value(model: type[Model], name: str, value, *, identifiers_shown: bool) -> str:
    model_field = model._meta.get_field(name)
    if is_direct_identifier(model_field) and not identifiers_shown:
        return HIDDEN
    return show_value(model_field, value)


def audit_trail(*, patient: Patient, user, form: str = "") -> list[AuditEntry]:
    """Every change of the patient's casebook, newest first: who, when, which form and row,
    each field's old → new value, and the reason. Direct identifiers are masked for users
    who may not see them."""
    identifiers_shown = can_see_identifiers(user)
    sources: list[tuple[FormSpec | None, type[Model], object]] = []
    for spec in SPECS:
        if form and spec.key != form:
            continue
        history = spec.model.history
        records = history.filter(id=patient.pk) if spec.model is Patient else history.filter(patient_id=patient.pk)
        sources.append((spec, spec.model, records))
    states = FormState.history.filter(patient_id=patient.pk)
    if form:
        states = states.filter(form=form)
    sources.append((None, FormState, states))

    entries: list[AuditEntry] = []
    for spec, model, records in sources:
        fields = [f.name for f in model._meta.fields if f.name not in AUDIT_SKIPPED_FIELDS and f.editable]
        records = list(records.select_related("history_user").order_by("id", "history_date", "history_id"))
        for _row_id, versions in groupby(records, key=lambda record: record.id):
            previous = None
            for record in versions:
                entries.append(_audit_entry(spec, model, fields, record, previous, identifiers_shown))
                previous = record
    entries.sort(key=lambda entry: entry.when, reverse=True)
    return entries


def _audit_entry(spec, model, fields, record, previous, identifiers_shown) -> AuditEntry:
    def shown(name, value):
        return _audit_value(model, name, value, identifiers_shown=identifiers_shown)

    if spec is None:  # a form state
        form_label = str(FormKey(record.form).label)
        row_label = _("Form status")
    else:
        form_label = str(spec.key.label)
        row_label = spec.row_label(record) if spec.repeating else str(spec.title)
    if previous is None:
        action = _("Created")
        changes = [
            (str(model._meta.get_field(name).verbose_name), "—", shown(name, getattr(record, name)))
            for name in fields
            if getattr(record, name) not in (None, "")
        ]
    else:
        # diff_against compares editable fields only: the soft deletion is compared here.
        delta = record.diff_against(previous, included_fields=fields)
        action = _("Changed")
        if getattr(record, "is_deleted", False) != getattr(previous, "is_deleted", False):
            action = _("Deleted") if record.is_deleted else _("Restored")
        changes = []
        for change in delta.changes:
            changes.append(
                (str(model._meta.get_field(change.field).verbose_name), shown(change.field, change.old), shown(change.field, change.new))
            )
    if record.history_type == "-":
        action = _("Deleted")
    return AuditEntry(
        when=record.history_date,
        who=record.history_user.get_username() if record.history_user else "—",
        form=form_label,
        row=row_label,
        action=action,
        changes=changes,
        reason=record.history_change_reason or "",
    )
