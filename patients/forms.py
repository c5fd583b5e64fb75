"""Browser forms of the casebook: thin ModelForms over the CRF models.

They parse what the user typed (dates and numbers in the user's locale) and build the
row; the edit checks run once, in `patients.services.crf_row_save`, whose per-field
messages the views put back on these forms (`add_service_errors`).
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance
from django.utils.formats import get_format
from django.utils.translation import gettext_lazy as _

from patients.models import BaselineDisease, EnrollmentStatus, Patient
from patients.validators import reason_text
from sites.models import Center

YES_NO = ((True, _("Yes")), (False, _("No")))
# The message of patients.services when a change of a complete form comes without a reason.
REASON_MISSING = _("This form is complete: give the reason for the change.")


def yes_no_field(label, *, required=True, help_text="") -> forms.TypedChoiceField:
    """A Yes/No question as two radio buttons: an unticked checkbox cannot say 'not answered'."""
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value in (True, "True"),
        empty_value=None,
        required=required,
        widget=forms.RadioSelect,
        help_text=help_text,
    )


class LocalizedDateInput(forms.DateInput):
    """A text input in the active language's first input format, with an example as placeholder."""

    def get_context(self, name, value, attrs):
        fmt = get_format("DATE_INPUT_FORMATS")[0]
        example = dt.date(2017, 3, 1).strftime(fmt)
        attrs = {**(attrs or {}), "placeholder": _("e.g. %(example)s") % {"example": example}, "autocomplete": "off"}
        return super().get_context(name, value, attrs)


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
    reason for change, asked once the form is complete. `conditional` names the fields that
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
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        for name, field in self.fields.items():
            if name in self.conditional:
                field.widget.attrs["data-conditional"] = "1"

    # -- rendering -----------------------------------------------------------------------
    def show_when(self, name: str) -> str:
        """The JSON the page script reads to show a field only when it applies."""
        conditions = self.conditional.get(name)
        return json.dumps([[other, list(values)] for other, values in conditions]) if conditions else ""

    def grouped_fields(self):
        """[(legend, [(bound field, show-when JSON)])] in the order the form asks them."""
        names = [name for name in self.fields if name not in ("version", "change_reason")]
        groups = self.fieldsets or (("", tuple(names)),)
        return [
            (legend, [(self[name], self.show_when(name)) for name in group if name in self.fields])
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
        for name in self.conditional:
            if name in cleaned and not self.applies(name, cleaned):
                model_field = self._meta.model._meta.get_field(name)
                cleaned[name] = None if model_field.null else ("" if model_field.empty_strings_allowed else False)
        if self.reason_required and not reason_text(cleaned.get("change_reason")):
            self.add_error("change_reason", REASON_MISSING)
        return cleaned

    def _post_clean(self):
        # Only build the row here: the service validates it (fields, edit checks against the
        # rest of the casebook, constraints) inside its transaction, once for every client.
        opts = self._meta
        self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)

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

    has_rr_b_all = yes_no_field(Patient._meta.get_field("has_rr_b_all").verbose_name)
    is_cd22_positive = yes_no_field(Patient._meta.get_field("is_cd22_positive").verbose_name)
    received_io = yes_no_field(Patient._meta.get_field("received_io").verbose_name)

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
        for question in ("has_rr_b_all", "is_cd22_positive", "received_io"):
            self.initial[question] = None  # asked, not presumed

    def _post_clean(self):
        super()._post_clean()
        if self.cleaned_data.get("center"):
            self.instance.center = self.cleaned_data["center"]


class PatientEditForm(PatientFormBase):
    pass


class BaselineForm(CRFForm):
    conditional = {"prior_allo_hsct_date": (("prior_allo_hsct", ("true",)),)}

    prior_allo_hsct = yes_no_field(BaselineDisease._meta.get_field("prior_allo_hsct").verbose_name)

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
