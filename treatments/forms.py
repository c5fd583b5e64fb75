"""Browser forms of prior therapy lines, IO cycles, the end of IO treatment and the HSCT."""

from __future__ import annotations

from django import forms

from patients.forms import CRFForm
from treatments.models import AlloHsct, EndOfTreatment, EndOfTreatmentReason, IOCycle, PriorTherapyLine

HSCT_PERFORMED = (("performed", ("true",)),)


class PriorLineForm(CRFForm):
    class Meta(CRFForm.Meta):
        model = PriorTherapyLine
        fields = ["line_number", "category", "regimen", "start_date", "end_date", "best_response"]


class IOCycleForm(CRFForm):
    conditional = {"modification_reason": (("delayed", ("true",)), ("dose_reduced", ("true",)))}

    class Meta(CRFForm.Meta):
        model = IOCycle
        fields = [
            "cycle_number",
            "start_date",
            "dose_day1",
            "dose_day8",
            "dose_day15",
            "delayed",
            "dose_reduced",
            "modification_reason",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for day in ("dose_day1", "dose_day8", "dose_day15"):
            self.fields[day].widget.attrs.update({"inputmode": "decimal", "size": 6})


class EndOfTreatmentForm(CRFForm):
    conditional = {"reason_other": (("reason", (EndOfTreatmentReason.OTHER,)),)}

    class Meta(CRFForm.Meta):
        model = EndOfTreatment
        fields = ["reason", "reason_other"]
        widgets = {"reason": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [choice for choice in self.fields["reason"].choices if choice[0]]


class HsctForm(CRFForm):
    conditional = {
        name: HSCT_PERFORMED
        for name in ("hsct_date", "donor", "conditioning", "tbi", "status_at_hsct", "io_cycles_before")
    }

    class Meta(CRFForm.Meta):
        model = AlloHsct
        fields = ["performed", "hsct_date", "donor", "conditioning", "tbi", "status_at_hsct", "io_cycles_before"]
