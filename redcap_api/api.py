"""The REDCap-compatible API: one form-encoded POST endpoint, `/redcap/api/`, answering the
requests of REDCap clients (PyCap, REDCapR, REDCap's own examples) about this registry.

Authentication is REDCap's: `token=` in the body, a REDCap token of the user (32 uppercase
hexadecimal digits, made on the "API tokens" page or by `manage.py redcap_token`; which
tokens are valid is decided in `sites.selectors`). The user's access is the user's access
everywhere else (see `redcap_api.selectors`).

Content types: version, project, metadata, instrument, formEventMapping (refused: the
project is not longitudinal), repeatingFormsEvents, exportFieldNames, dag, record (export;
import when `data` is given). Formats: json and csv. Errors are REDCap's, always as JSON:
`{"error": ...}` with 403 for a missing or bad token and for a user without the right (an
import by a user who does not enter data), 400 for a bad parameter or rejected data (with
every problem of an import, one "record","field","value","message" line each).
"""

from __future__ import annotations

import csv
import io
import json
import re

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from redcap_api.project import (
    PSEUDO_FIELDS,
    REDCAP_VERSION,
    complete_fields,
    data_access_group_name,
    export_field_names,
    field_by_name,
    instrument_by_name,
    instruments,
    project_fields,
    project_info,
    repeating_instruments,
)
from redcap_api.records import record_export_stream
from redcap_api.selectors import dates_shifted_for
from redcap_api.services import RedcapError, records_import
from sites.models import ApiTokenKind
from sites.roles import has_any_role
from sites.selectors import api_token_get_by_secret, center_list_for_user
from sites.services import api_token_mark_used

TOKEN_PATTERN = re.compile(r"^[0-9A-F]{32}$")
FORMATS = ("json", "csv")
NO_PERMISSION = "You do not have permissions to use the API"


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _flag(params, name: str) -> bool:
    return str(params.get(name, "")).strip().lower() in ("true", "1", "yes")


def _list_param(params, name: str) -> list[str] | None:
    """A list parameter as REDCap takes it: `name[0]=a&name[1]=b` (or `name[]=a&name[]=b`), or
    `name=a,b`; None when not given or empty."""
    indexed = []
    for key in params:
        match = re.fullmatch(rf"{re.escape(name)}\[(\d*)\]", key)
        if match:
            indexed += [(int(match.group(1) or position), value)
                        for position, value in enumerate(params.getlist(key))]
    values = [value for _position, value in sorted(indexed)] or (params.get(name) or "").split(",")
    values = [value.strip() for value in values if value.strip()]
    return values or None


def _format(params, default: str = "json") -> str:
    fmt = (params.get("format") or default).strip().lower()
    if fmt not in FORMATS:
        raise RedcapError('The value of the parameter "format" is not valid: this server answers json or csv')
    return fmt


def _csv_text(columns: list[str], rows: list[dict], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row.get(column) for column in columns])
    return out.getvalue()


def _answer(params, rows: list[dict], columns: list[str]) -> HttpResponse:
    if _format(params) == "csv":
        return HttpResponse(_csv_text(columns, rows), content_type="text/csv; charset=utf-8")
    return JsonResponse(rows, safe=False)


# --- content types ------------------------------------------------------------------------


def version_content(user, params) -> HttpResponse:
    return HttpResponse(REDCAP_VERSION, content_type="text/plain; charset=utf-8")


def project_content(user, params) -> HttpResponse:
    info = project_info()
    if _format(params) == "csv":
        return _answer(params, [info], list(info))
    return JsonResponse(info)


def _selected_fields(params, name: str = "fields"):
    names = _list_param(params, name) or []
    unknown = [value for value in names if field_by_name(value) is None and value not in complete_fields()
               and value not in PSEUDO_FIELDS]
    if unknown:
        raise RedcapError(f'The following values in the parameter "{name}" are not valid: '
                          + ", ".join(f"'{value}'" for value in unknown))
    return names


def _selected_forms(params):
    names = _list_param(params, "forms") or []
    unknown = [value for value in names if instrument_by_name(value) is None]
    if unknown:
        raise RedcapError('The following values in the parameter "forms" are not valid: '
                          + ", ".join(f"'{value}'" for value in unknown))
    return names


def metadata_content(user, params) -> HttpResponse:
    field_names, forms = _selected_fields(params), _selected_forms(params)
    fields = [field for field in project_fields()
              if (not field_names and not forms) or field.name in field_names or field.instrument.name in forms]
    rows = [field.metadata_row() for field in fields]
    return _answer(params, rows, list(rows[0]) if rows else [])


def instrument_content(user, params) -> HttpResponse:
    rows = [{"instrument_name": instrument.name, "instrument_label": instrument.label} for instrument in instruments()]
    return _answer(params, rows, ["instrument_name", "instrument_label"])


def form_event_mapping_content(user, params) -> HttpResponse:
    raise RedcapError("You cannot export form/event mappings for classic projects")


def repeating_forms_events_content(user, params) -> HttpResponse:
    rows = [{"form_name": instrument.name, "custom_form_label": ""} for instrument in repeating_instruments()]
    return _answer(params, rows, ["form_name", "custom_form_label"])


def export_field_names_content(user, params) -> HttpResponse:
    wanted = (params.get("field") or "").strip()
    if wanted and field_by_name(wanted) is None:
        raise RedcapError(f"The field '{wanted}' does not exist")
    rows = [row for field in project_fields() if not wanted or field.name == wanted
            for row in export_field_names(field)]
    return _answer(params, rows, ["original_field_name", "choice_value", "export_field_name"])


def dag_content(user, params) -> HttpResponse:
    rows = [{"data_access_group_name": f"{center.code} {center.name}",
             "unique_group_name": data_access_group_name(center),
             "data_access_group_id": center.pk} for center in center_list_for_user(user=user).order_by("code")]
    return _answer(params, rows, ["data_access_group_name", "unique_group_name", "data_access_group_id"])


def record_content(user, params) -> HttpResponse | StreamingHttpResponse:
    action = (params.get("action") or "").strip().lower()
    if "data" in params or action == "import":
        return _record_import(user, params)
    if action not in ("", "export"):
        raise RedcapError(f'The value of the parameter "action" is not valid: {action}')
    return _record_export(user, params)


def _record_export(user, params) -> StreamingHttpResponse:
    fmt = _format(params)
    if (params.get("type") or "flat").strip().lower() != "flat":
        raise RedcapError('The value of the parameter "type" is not valid: this server exports flat records')
    raw_or_label = (params.get("rawOrLabel") or "raw").strip().lower()
    headers = (params.get("rawOrLabelHeaders") or "raw").strip().lower()
    if raw_or_label not in ("raw", "label") or headers not in ("raw", "label"):
        raise RedcapError('The value of the parameter "rawOrLabel" or "rawOrLabelHeaders" is not valid')
    if _list_param(params, "events"):
        raise RedcapError("This project is not longitudinal: it has no events")
    # Parameters this server does not apply are refused when given, never silently ignored
    # (an ignored filter would hand back data the client did not ask for).
    for name in ("filterLogic", "dateRangeBegin", "dateRangeEnd"):
        if (params.get(name) or "").strip():
            raise RedcapError(f'The parameter "{name}" is not supported by this server: leave it empty')
    if (params.get("decimalCharacter") or ".").strip() not in ("", "."):
        raise RedcapError('The value of the parameter "decimalCharacter" is not valid: this server exports "."')
    field_names, forms = _selected_fields(params), _selected_forms(params)
    if not field_names and not forms:
        chosen, complete = list(project_fields()), list(instruments())
    else:
        chosen = [field for field in project_fields() if field.name in field_names or field.instrument.name in forms]
        complete = [instrument for instrument in instruments()
                    if instrument.name in forms or instrument.complete_field in field_names]
    labels = raw_or_label == "label"
    records = _list_param(params, "records")
    stream = record_export_stream(
        user=user, fmt=fmt, header=_label_header if fmt == "csv" and headers == "label" else None, labels=labels,
        deidentified=dates_shifted_for(user), records=records, fields=chosen, complete=complete,
        data_access_groups=_flag(params, "exportDataAccessGroups"),
        blank_for_gray=_flag(params, "exportBlankForGrayFormStatus"),
        log_parameters={"format": fmt, "records": len(records) if records else "all",
                        "fields": field_names, "forms": forms, "rawOrLabel": raw_or_label},
    )
    # Streamed: the database writes the rows as the client reads them; the export is logged
    # once its last byte is sent.
    return StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json")


def _label_header(columns: list[str]) -> list[str]:
    labels_by_name = {field.name: field.label for field in project_fields()}
    labels_by_name |= {instrument.complete_field: "Complete?" for instrument in instruments()}
    labels_by_name |= {"redcap_repeat_instrument": "Repeat Instrument", "redcap_repeat_instance": "Repeat Instance",
                       "redcap_data_access_group": "Data Access Group"}
    return [labels_by_name.get(column, column) for column in columns]


def _import_rows(params) -> list[dict]:
    fmt = _format(params)
    data = params.get("data") or ""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data)))
    try:
        rows = json.loads(data)
    except ValueError:
        raise RedcapError("The data being imported is not in a valid JSON format") from None
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise RedcapError("The data being imported is not a list of records")
    return [{key: "" if value is None else str(value) for key, value in row.items()} for row in rows]


def _record_import(user, params) -> HttpResponse:
    if (params.get("overwriteBehavior") or "normal").strip().lower() != "normal":
        raise RedcapError('The value of the parameter "overwriteBehavior" is not valid: this server imports with '
                          '"normal" (a blank value leaves the stored value as it is)')
    if _flag(params, "forceAutoNumber"):
        raise RedcapError("Record auto-numbering is not enabled: records are enrolled in the casebook")
    imported = records_import(user=user, rows=_import_rows(params),
                              date_format=(params.get("dateFormat") or "YMD").strip().upper())
    return_content = (params.get("returnContent") or "count").strip().lower()
    if return_content == "ids":
        return JsonResponse(imported, safe=False)
    if return_content == "nothing":
        return HttpResponse("", content_type="application/json")
    return JsonResponse({"count": len(imported)})


CONTENT_TYPES = {
    "version": version_content,
    "project": project_content,
    "metadata": metadata_content,
    "instrument": instrument_content,
    "formEventMapping": form_event_mapping_content,
    "repeatingFormsEvents": repeating_forms_events_content,
    "exportFieldNames": export_field_names_content,
    "dag": dag_content,
    "record": record_content,
}


@csrf_exempt
@require_POST
def redcap_api_view(request):
    """The one endpoint: authenticate the token, answer the content type."""
    params = request.POST
    secret = (params.get("token") or "").strip()
    token = api_token_get_by_secret(secret=secret, kind=ApiTokenKind.REDCAP) if TOKEN_PATTERN.match(secret) else None
    if token is None or not has_any_role(token.user):
        return _error(NO_PERMISSION, status=403)
    api_token_mark_used(token)
    handler = CONTENT_TYPES.get((params.get("content") or "").strip())
    if handler is None:
        return _error('The value of the parameter "content" is not valid')
    try:
        return handler(token.user, params)
    except RedcapError as error:
        return _error(error.message, status=error.status)
