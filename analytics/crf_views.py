"""The annotated case report form as PDF: no patient data, for anyone with a role in the study."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import get_language

from analytics.annotated_crf import annotated_crf_pdf
from patients.views.printing import pdf_response
from sites.roles import has_any_role


@login_required
def annotated_crf_pdf_view(request):
    if not has_any_role(request.user):
        raise PermissionDenied
    return pdf_response(annotated_crf_pdf(), f"ino-cd22-annotated-crf-{get_language()}.pdf")
