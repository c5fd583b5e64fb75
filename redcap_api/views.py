"""The import page of sites' files: upload, dry run (progress, every problem), confirm, import."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from redcap_api.models import ImportRun
from redcap_api.site_import import import_run_confirm, import_run_start
from redcap_api.tasks import import_run_task
from redcap_api.template import import_template_xlsx
from sites.jobs import QueueUnavailable, job_enqueue
from sites.roles import can_edit_clinical_data

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("file"),
                           help_text=gettext_lazy("A REDCap flat export (CSV) or the import template (XLSX)."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Import a CSV (REDCap flat export) or an XLSX file (the import template)."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 50 MB: split it by center."))
        return upload


def _require_editor(user) -> None:
    if not can_edit_clinical_data(user):
        raise PermissionDenied


def _own_run(request, run_id: int) -> ImportRun:
    """A run is its uploader's: another user gets a 404, never its problems."""
    _require_editor(request.user)
    return get_object_or_404(ImportRun.objects.defer("content"), pk=run_id, created_by=request.user)


def _enqueue(request, run: ImportRun) -> None:
    try:
        job_enqueue(import_run_task, row=run, kwargs={"run_id": run.pk}, queue=settings.SITE_IMPORT_QUEUE)
    except QueueUnavailable as error:
        messages.error(request, str(error))


@login_required
def import_page(request):
    _require_editor(request.user)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        run = import_run_start(user=request.user, file_name=upload.name, content=upload.read())
        _enqueue(request, run)
        return redirect("patient_import:run", run_id=run.pk)
    runs = ImportRun.objects.defer("content").filter(created_by=request.user)[:20]
    return render(request, "redcap_api/import.html", {"form": form, "runs": runs})


@login_required
@require_GET
def import_run_page(request, run_id: int):
    return render(request, "redcap_api/import_run.html", {"run": _own_run(request, run_id)})


@login_required
@require_GET
def import_run_progress(request, run_id: int):
    """The progress alone, polled by htmx; the page reloads itself once the run is finished."""
    run = _own_run(request, run_id)
    response = render(request, "redcap_api/_import_progress.html", {"run": run})
    if not run.is_running:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def import_run_confirm_view(request, run_id: int):
    run = import_run_confirm(user=request.user, run=_own_run(request, run_id))
    _enqueue(request, run)
    return redirect("patient_import:run", run_id=run.pk)


@login_required
@require_GET
def import_template(request):
    _require_editor(request.user)
    response = HttpResponse(import_template_xlsx(),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="ino-cd22-import-template.xlsx"'
    return response
