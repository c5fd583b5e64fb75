"""The browser page of dataset exports: the same choices as the API, answered by the API."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from analytics.exports.dataset import DATE_MODES, FILE_FORMATS, VALUE_MODES
from analytics.exports.services import export_log_list_for_user
from sites.roles import can_export_datasets

FORMAT_LABELS = {
    "csv": _("CSV (zip: one file per form and the data dictionary)"),
    "json": _("JSON"),
    "dta": _("Stata .dta (zip)"),
    "sav": _("SPSS .sav (zip)"),
    "xpt": _("SAS transport .xpt, version 5 (zip, with PROC FORMAT for the code lists; 8-character names "
             "given in the data dictionary)"),
    "odm": _("CDISC ODM 1.3.2 XML"),
}


@login_required
def export_page(request):
    if not can_export_datasets(request.user):
        raise PermissionDenied
    return render(request, "exports/export.html", {
        "formats": [(code, FORMAT_LABELS[code]) for code in FILE_FORMATS],
        "date_modes": DATE_MODES,
        "value_modes": VALUE_MODES,
        "recent_exports": export_log_list_for_user(user=request.user)[:10],
    })
