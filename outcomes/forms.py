"""Browser forms of response assessments, adverse events, VOD/SOS and follow-up."""

from __future__ import annotations

from django import forms

from outcomes.models import (
    AdverseEvent,
    FollowUp,
    MrdStatus,
    ResponseAssessment,
    VitalStatus,
    VodSosEvent,
)
from patients.forms import CRFForm, yes_no_field


class ResponseForm(CRFForm):
    conditional = {"mrd_method": (("mrd_status", (MrdStatus.NEGATIVE, MrdStatus.POSITIVE)),)}

    class Meta(CRFForm.Meta):
        model = ResponseAssessment
        fields = ["assessment_date", "marrow_blasts_pct", "response", "mrd_status", "mrd_method"]
        widgets = {"mrd_status": forms.RadioSelect, "mrd_method": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("mrd_status", "mrd_method"):
            self.fields[name].choices = [choice for choice in self.fields[name].choices if choice[0]]


class AdverseEventForm(CRFForm):
    class Meta(CRFForm.Meta):
        model = AdverseEvent
        fields = ["ctcae_term", "other_specify", "grade", "onset_date", "resolution_date", "serious", "relation"]
        widgets = {"grade": forms.RadioSelect(choices=[(grade, str(grade)) for grade in range(1, 6)])}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grade"].widget.choices = [(grade, str(grade)) for grade in range(1, 6)]


class VodForm(CRFForm):
    class Meta(CRFForm.Meta):
        model = VodSosEvent
        fields = ["diagnosis_date", "criteria", "severity", "setting", "defibrotide", "outcome"]
        widgets = {"setting": forms.RadioSelect, "outcome": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("setting", "outcome"):
            self.fields[name].choices = [choice for choice in self.fields[name].choices if choice[0]]


class FollowUpForm(CRFForm):
    conditional = {
        "relapse_date": (("relapsed", ("true",)),),
        "death_date": (("vital_status", (VitalStatus.DEAD,)),),
        "death_cause": (("vital_status", (VitalStatus.DEAD,)),),
    }

    relapsed = yes_no_field(FollowUp._meta.get_field("relapsed").verbose_name)

    class Meta(CRFForm.Meta):
        model = FollowUp
        fields = ["relapsed", "relapse_date", "vital_status", "death_date", "death_cause", "last_contact_date"]
        widgets = {"vital_status": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vital_status"].choices = [choice for choice in self.fields["vital_status"].choices if choice[0]]
