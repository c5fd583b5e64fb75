"""The page of the automatic checks: start a run, see the last runs."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.checks import check_run_start
from patients.models import DataCheckRun
from patients.tasks import casebook_checks_run_task
from patients.views.common import center_choices
from sites.jobs import QueueUnavailable, job_enqueue
from sites.roles import can_review_forms
from sites.selectors import center_list_for_user


class CheckRunForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    cutoff = forms.DateField(label=gettext_lazy("data cut-off"), required=False,
                             widget=forms.DateInput(attrs={"type": "date"}),
                             help_text=gettext_lazy("Empty: today (or the DATA_CHECKS_CUTOFF setting)."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = center_choices(user)


@login_required
def check_runs(request):
    if not can_review_forms(request.user):
        raise PermissionDenied
    form = CheckRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        center = center_list_for_user(user=request.user).filter(code=form.cleaned_data["center"]).first()
        run = check_run_start(user=request.user, center=center, cutoff=form.cleaned_data["cutoff"])
        try:
            job_enqueue(casebook_checks_run_task, row=run, kwargs={"run_id": run.pk})
        except QueueUnavailable as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("The checks are running (run %(pk)s): new queries appear in the list.") % {"pk": run.pk})
        return redirect("data_management:checks")
    runs = DataCheckRun.objects.select_related("started_by", "center")[:20]
    return render(request, "data_management/checks.html", {"form": form, "runs": runs})
