"""The form that starts a report; the service validates the parameters again."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.models import CiMethod
from patients.forms import LocalizedDateInput
from sites.selectors import center_list_for_user


class ReportStartForm(forms.Form):
    cutoff = forms.DateField(
        label=_("Data cut-off date"),
        localize=True,
        widget=LocalizedDateInput,  # the casebook's date input: typed in the language's format, or a calendar
        help_text=_("Data after this date is ignored and follow-up is censored at it."),
    )
    centers = forms.MultipleChoiceField(
        label=_("Centers"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every center."),
    )
    ci_method = forms.ChoiceField(label=_("Confidence interval method"), choices=CiMethod.choices,
                                  initial=CiMethod.LOG_LOG)
    hsct_censors_dor = forms.BooleanField(label=_("Does allo-HSCT censor the duration of response?"),
                                          required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cutoff"].initial = timezone.localdate()
        self.fields["centers"].choices = [
            (center.code, f"{center.code} · {center.name}") for center in center_list_for_user(user=user)
        ]
