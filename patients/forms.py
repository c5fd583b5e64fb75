"""Browser forms of the casebook: thin ModelForms over the CRF models.

They parse what the user typed (dates and numbers in the user's locale) and build the
row; the edit checks run once, in `patients.services.crf_row_save`, whose per-field
messages the views put back on these forms (`add_service_errors`). When what was typed
cannot even be read, the views add the service's problems of the rest (`add_row_problems`,
from `patients.services.row_problems`): one submit shows every error.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import construct_instance
from django.utils.formats import get_format
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from patients.clinical import MissingCode, is_empty
from patients.models import BaselineDisease, EnrollmentStatus, Patient
from patients.registry import casebook
from patients.validators import reason_text
from sites.models import Center

YES_NO = ((True, _("Yes")), (False, _("No")))
# A clinical yes/no question the source may not answer: Unknown is no value, with the code UNK.
UNKNOWN = (MissingCode.UNKNOWN.value, _("Unknown"))
# The message of patients.services when a change of a complete form comes without a reason.
REASON_MISSING = _("This form is complete: give the reason for the change.")
REQUIRED = forms.Field.default_error_messages["required"]
# The name of the control that answers question X with a missing-data code instead of a value.
CODE_SUFFIX = "_missing"


def _yes_no_value(value):
    """'True' and 'False' as booleans; a missing-data code stays itself (CRFForm.clean reads it)."""
    return {"True": True, "False": False}.get(value, value) if isinstance(value, str) else value


def yes_no_field(label, *, required=True, help_text="", codes=()) -> forms.TypedChoiceField:
    """A Yes/No question as radio buttons: an unticked checkbox cannot say 'not answered'.
    `codes` are the missing-data choices offered beside Yes and No (Unknown)."""
    return forms.TypedChoiceField(
        label=label,
        choices=(*YES_NO, *codes),
        coerce=_yes_no_value,
        empty_value=None,
        required=required,
        widget=forms.RadioSelect,
        help_text=help_text,
    )


def missing_code_field() -> forms.ChoiceField:
    """The compact control beside a question: a missing-data code instead of a value."""
    return forms.ChoiceField(
        label=_("or missing-data code"),
        choices=(("", "—"), *((code, format_lazy("{} · {}", code, label)) for code, label in MissingCode.choices)),
        required=False,
        widget=forms.Select(attrs={"class": "missing-code"}),
    )


def date_format_hint(fmt: str) -> str:
    """A date input format as a person reads it: dd/mm/yyyy."""
    return (fmt.replace("%d", str(_("dd"))).replace("%m", str(_("mm"))).replace("%Y", str(_("yyyy"))))


class LocalizedDateInput(forms.DateInput):
    """A text input in the active language's first input format, with the format shown beside
    it, and a calendar button (static/js/casebook.js: shown when scripts run) that opens the
    browser's date picker and writes the chosen day back in that format."""

    def get_context(self, name, value, attrs):
        fmt = get_format("DATE_INPUT_FORMATS")[0]
        example = dt.date(2017, 3, 1).strftime(fmt)
        attrs = {**(attrs or {}), "placeholder": _("e.g. %(example)s") % {"example": example}, "autocomplete": "off",
                 "data-date-format": fmt, "class": "date-input"}
        if attrs.get("id"):
            described = f"{attrs['id']}_format"
            attrs["aria-describedby"] = " ".join(filter(None, (attrs.get("aria-describedby"), described)))
        return super().get_context(name, value, attrs)

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        input_id = (attrs or {}).get("id") or self.attrs.get("id") or ""
        fmt = get_format("DATE_INPUT_FORMATS")[0]
        return format_html(
            '<span class="date-wrap"><span class="date-field">{}<button type="button" class="btn btn-small date-picker-button" hidden '
            'data-date-for="{}" aria-label="{}">{}</button><input type="date" class="date-picker" tabindex="-1" '
            'aria-hidden="true"></span><span class="date-hint" id="{}_format">{}</span></span>',
            html, input_id, _("Choose the day on a calendar"), _("Calendar"), input_id,
            _("Format: %(format)s") % {"format": date_format_hint(fmt)},
        )


def _localized_formfield(model_field, **kwargs):
    formfield = model_field.formfield(localize=True, **kwargs)
    if isinstance(formfield, forms.DateField):
        formfield.widget = LocalizedDateInput()
        formfield.widget.is_localized = True
    if isinstance(formfield, forms.CharField) and isinstance(formfield.widget, forms.Textarea):
        formfield.widget.attrs["rows"] = 2
    return formfield


class CRFForm(forms.ModelForm):
    """One row of a case report form.

    `version` is the row version the user loaded (optimistic locking); `change_reason` is the
    reason for change, asked once the form is complete. The questions the registry lets take a
    missing-data code (`Part.codable`) have one beside them (`<question>_missing`; Unknown among
    the radios of a yes/no question), saved in the row's `missing_codes`. `conditional` names the fields that
    apply only when another field has one of some values: they are shown only then (see
    static/js/casebook.js) and emptied on save when they do not apply.
    """

    class Meta:
        # Subclasses' Meta inherit this one: numbers and dates in the user's locale.
        formfield_callback = _localized_formfield

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    change_reason = forms.CharField(
        label=_("Reason for change"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("This form is marked complete: say why the data change. The reason goes into the audit trail."),
    )

    conditional: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    fieldsets: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __init__(self, *args, reason_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        self.part = casebook.part_for(self._meta.model)
        self.missing_codes: dict[str, str] = {}
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        self._ask_questions()
        for name, field in self.fields.items():
            if name in self.conditional:
                field.widget.attrs["data-conditional"] = "1"

    def _ask_questions(self) -> None:
        """Yes/no questions as radios (with Unknown where the registry lets the question take a
        missing-data code); beside every other codable question, a code control. A question the
        model requires (`blank=False`) is `required_questions`: answered by a value or a code."""
        saved_codes = self.instance.missing_codes if isinstance(self.instance.missing_codes, dict) else {}
        self.required_questions: set[str] = set()
        self.code_fields: dict[str, str] = {}
        for name in self._meta.fields:
            if name not in self.fields:
                continue
            model_field = self._meta.model._meta.get_field(name)
            codable = self.part.accepts_code(name)
            if not model_field.blank:
                self.required_questions.add(name)
            saved_code = saved_codes.get(name) if codable and saved_codes.get(name) in MissingCode.values else None
            if isinstance(model_field, models.BooleanField):
                codes = [UNKNOWN] if codable else []
                if saved_code and saved_code != UNKNOWN[0]:  # another code, given through the API
                    codes.append((saved_code, MissingCode(saved_code).label))
                field = self.fields[name]
                self.fields[name] = yes_no_field(field.label, required=not model_field.blank,
                                                 help_text=field.help_text, codes=codes)
                if saved_code:
                    self.initial[name] = saved_code
                elif not self.instance.pk:
                    self.initial[name] = None  # asked, not presumed
            elif codable:
                self.fields[name].required = False  # a code may answer it: CRFForm.clean asks for one or the other
                code_name = name + CODE_SUFFIX
                self.fields[code_name] = missing_code_field()
                # the control's name says what it is; the question it answers is its description
                self.fields[code_name].widget.attrs["aria-describedby"] = f"{self[name].auto_id}_label"
                self.fields[code_name].initial = saved_code or ""
                self.code_fields[name] = code_name

    # -- rendering -----------------------------------------------------------------------
    def show_when(self, name: str) -> str:
        """The JSON the page script reads to show a field only when it applies."""
        conditions = self.conditional.get(name)
        return json.dumps([[other, list(values)] for other, values in conditions]) if conditions else ""

    def grouped_fields(self):
        """[(legend, [(bound field, show-when JSON, its missing-data code control or None)])] in
        the order the form asks them."""
        codes = set(self.code_fields.values())
        names = [name for name in self.fields if name not in ("version", "change_reason") and name not in codes]
        groups = self.fieldsets or (("", tuple(names)),)
        return [
            (legend, [(self[name], self.show_when(name), self[self.code_fields[name]] if name in self.code_fields else None)
                      for name in group if name in self.fields])
            for legend, group in groups
        ]

    @property
    def show_reason(self) -> bool:
        return self.reason_required or "change_reason" in self.errors

    # -- validation ----------------------------------------------------------------------
    def applies(self, name: str, cleaned: dict) -> bool:
        conditions = self.conditional.get(name)
        if not conditions:
            return True
        return any(str(cleaned.get(other)).lower() in values for other, values in conditions)

    def clean(self):
        cleaned = super().clean()
        self.missing_codes = {}
        for name in self.part.codable:
            if name in self.code_fields:
                code = cleaned.get(self.code_fields[name]) or ""
            elif name in self.fields:
                code = cleaned.get(name) if cleaned.get(name) in MissingCode.values else ""
                if code:
                    cleaned[name] = None  # Unknown: no value, the code says why
            else:
                continue
            if code:
                self.missing_codes[name] = code
        for name in self.conditional:
            if name in cleaned and not self.applies(name, cleaned):
                model_field = self._meta.model._meta.get_field(name)
                cleaned[name] = None if model_field.null else ("" if model_field.empty_strings_allowed else False)
                self.missing_codes.pop(name, None)
        for name in sorted(self.required_questions):
            # Fields Django required have said so already; a codable one needs a value or a code.
            if (name in cleaned and is_empty(cleaned[name]) and name not in self.missing_codes
                    and self.applies(name, cleaned)):
                self.add_error(name, REQUIRED)
        if self.reason_required and not reason_text(cleaned.get("change_reason")):
            self.add_error("change_reason", REASON_MISSING)
        return cleaned

    def _post_clean(self):
        # Only build the row here: the service validates it (fields, codes, edit checks against
        # the rest of the casebook, constraints) inside its transaction, once for every client.
        opts = self._meta
        self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)
        saved = self.instance.missing_codes if isinstance(self.instance.missing_codes, dict) else {}
        self.instance.missing_codes = {
            **{name: code for name, code in saved.items() if name not in self.fields}, **self.missing_codes}

    def invalid_questions(self) -> list[str]:
        """The questions whose answer could not be read (a typo in a number, ECOG 7)."""
        questions = {code_name: name for name, code_name in self.code_fields.items()}
        return sorted({questions.get(name, name) for name in self.errors if questions.get(name, name) in self._meta.fields})

    def add_row_problems(self, problems: dict[str, list[str]]) -> None:
        """Put the service's problems of the row (`patients.services.row_problems`) on the
        fields that have no error yet, so one submit shows every error of the form."""
        for name, messages in problems.items():
            target = name if name in self.fields else None
            if target is not None and target in self.errors:
                continue
            known = self.errors.get(target or "__all__", [])
            for message in messages:
                if message not in known:
                    self.add_error(target, message)

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the service's per-field messages next to their fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, errors in error.error_dict.items():
            if name == "reason" and (name not in self._meta.fields or REASON_MISSING in ValidationError(errors).messages):
                name = "change_reason"  # the service's 'reason' is the reason for change
            self.add_error(name if name in self.fields else None, errors)


class PatientFormBase(CRFForm):
    conditional = {
        "exclusion_reason": (("enrollment_status", (EnrollmentStatus.EXCLUDED,)),),
        "withdrawal_date": (("enrollment_status", (EnrollmentStatus.WITHDRAWN,)),),
        "withdrawal_reason": (("enrollment_status", (EnrollmentStatus.WITHDRAWN,)),),
    }

    class Meta(CRFForm.Meta):
        model = Patient
        fields = [
            "date_of_birth",
            "has_rr_b_all",
            "is_cd22_positive",
            "received_io",
            "c1d1_date",
            "local_hospital_id",
            "initials",
            "sex",
            "enrollment_status",
            "exclusion_reason",
            "withdrawal_date",
            "withdrawal_reason",
        ]
        widgets = {"sex": forms.RadioSelect, "enrollment_status": forms.RadioSelect}

    fieldsets = (
        (_("Eligibility"), ("center", "date_of_birth", "has_rr_b_all", "is_cd22_positive", "received_io", "c1d1_date")),
        (_("Identification (stays in the hospital: never exported)"), ("local_hospital_id", "initials", "sex")),
        (
            _("Enrollment"),
            ("enrollment_status", "exclusion_reason", "withdrawal_date", "withdrawal_reason"),
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["initials"].widget.attrs.update({"size": 4, "autocapitalize": "characters"})
        self.fields["sex"].choices = [choice for choice in self.fields["sex"].choices if choice[0]]


class PatientEnrollForm(PatientFormBase):
    """Eligibility first; the study ID is generated by `patient_enroll` on save."""

    center = forms.ModelChoiceField(label=_("center"), queryset=Center.objects.none(), empty_label=None)

    def __init__(self, *args, centers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].queryset = centers
        self.fields["enrollment_status"].choices = [
            (value, label) for value, label in EnrollmentStatus.choices if value != EnrollmentStatus.WITHDRAWN
        ]
        self.fields["enrollment_status"].help_text = _(
            "A patient who does not meet every criterion is recorded as excluded, with the reason."
        )
        del self.fields["withdrawal_date"], self.fields["withdrawal_reason"]

    def _post_clean(self):
        super()._post_clean()
        if self.cleaned_data.get("center"):
            self.instance.center = self.cleaned_data["center"]


class PatientEditForm(PatientFormBase):
    pass


class BaselineForm(CRFForm):
    conditional = {"prior_allo_hsct_date": (("prior_allo_hsct", ("true",)),)}

    class Meta(CRFForm.Meta):
        model = BaselineDisease
        fields = [
            "diagnosis_date",
            "ph_status",
            "cd22_expression_pct",
            "disease_status",
            "marrow_blasts_pct",
            "extramedullary_disease",
            "cns_disease",
            "ecog",
            "prior_allo_hsct",
            "prior_allo_hsct_date",
        ]
        widgets = {"ph_status": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ph_status"].choices = [choice for choice in self.fields["ph_status"].choices if choice[0]]


class PatientFilterForm(forms.Form):
    """The filters of the patient list."""

    COMPLETENESS = (
        ("", _("any")),
        ("not_started", _("no form complete")),
        ("in_progress", _("some forms complete")),
        ("complete", _("every form complete")),
    )

    q = forms.CharField(label=_("Study ID"), required=False, widget=forms.TextInput(attrs={"type": "search"}))
    center = forms.ModelChoiceField(label=_("center"), queryset=Center.objects.none(), required=False, empty_label=_("all"))
    status = forms.ChoiceField(
        label=_("enrollment status"), choices=(("", _("any")), *EnrollmentStatus.choices), required=False
    )
    completeness = forms.ChoiceField(label=_("Casebook"), choices=COMPLETENESS, required=False)

    def __init__(self, *args, centers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].queryset = centers
