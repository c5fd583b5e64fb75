"""Printed forms as PDF: a patient's filled casebook (through the user-scoped selector: 404
for another center's patient) and the blank case report form."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import get_language

from patients.printing import blank_crf_pdf, filled_casebook_pdf
from patients.selectors import casebook_get_for_user
from sites.roles import has_any_role


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@login_required
def casebook_pdf_view(request, study_id: str):
    patient = casebook_get_for_user(user=request.user, study_id=study_id)
    pdf = filled_casebook_pdf(patient, user=request.user, printed_at=timezone.localtime())
    return pdf_response(pdf, f"casebook-{patient.study_id}.pdf")


@login_required
def blank_crf_pdf_view(request):
    """The blank CRF: no patient data, for anyone with a role in the study."""
    if not has_any_role(request.user):
        raise PermissionDenied
    return pdf_response(blank_crf_pdf(), f"ino-cd22-crf-{get_language()}.pdf")
