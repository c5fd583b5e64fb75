"""The audit trail export of the monitors: a filter form and the CSV file."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.audit import audit_trail_rows
from patients.registry import casebook
from patients.spreadsheet import csv_response
from patients.views.common import center_choices
from sites.roles import can_export_audit_trail


class AuditFilterForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    username = forms.CharField(label=gettext_lazy("user"), required=False, max_length=150)
    form = forms.ChoiceField(label=gettext_lazy("form"), required=False)
    date_from = forms.DateField(label=gettext_lazy("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = center_choices(user)
        self.fields["form"].choices = [("", _("all forms")), *casebook.choices()]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end is before the start."))
        return data


def _require_audit(request) -> None:
    if not can_export_audit_trail(request.user):
        raise PermissionDenied


@login_required
def audit_trail(request):
    _require_audit(request)
    return render(request, "data_management/audit.html", {"form": AuditFilterForm(user=request.user)})


@login_required
def audit_trail_csv(request):
    _require_audit(request)
    form = AuditFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return render(request, "data_management/audit.html", {"form": form}, status=400)
    rows = audit_trail_rows(user=request.user, **form.cleaned_data)
    return csv_response(rows, filename=f"audit-trail-{timezone.localdate():%Y%m%d}.csv")
