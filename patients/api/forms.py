"""The REST API of the casebook forms: one serializer and viewset per registered part, made
from the registry (`crf_viewset`), thin callers of the same selectors (reads, scoped to the
user: another center's rows are 404) and services (writes: access, form state and reason
for change, optimistic locking, edit checks, history) as the browser forms."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from patients.clinical import MissingCode, is_empty, mask_for
from patients.models import Patient
from patients.registry import BOOKKEEPING_FIELDS, Part
from patients.selectors import form_rows_for_user, patient_list_for_user
from patients.services import crf_row_delete, crf_row_save, row_problems
from sites.roles import can_edit_clinical_data, can_see_identifiers

REASON_HEADER = "X-Reason-For-Change"


class ClinicalWritePermission(BasePermission):
    """Everyone with a role reads (the selectors decide what); only site staff write."""

    message = "Only site coordinators and investigators change clinical data."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or can_edit_clinical_data(request.user)


# --- Shared serializer and viewset of a form -------------------------------------------------


class CrfRowSerializer(serializers.ModelSerializer):
    """A form row: its fields, its `version` (required to change it), and the `reason` for change."""

    version = serializers.IntegerField(
        required=False, min_value=1,
        help_text="The version you read; required to change a row. A stale version is refused with 409.",
    )
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=2000,
        help_text=f"Reason for change, required once the form is complete (or the {REASON_HEADER} header). "
                  "Give it once: a body with both `reason` and `change_reason` is refused (400).",
    )
    change_reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=2000,
        help_text="Reason for change: the same as `reason`, and its name in forms that have a `reason` field. "
                  "Give it once: a body with both `reason` and `change_reason` is refused (400).",
    )

    def validate(self, attrs):
        if self.instance is not None and "version" not in attrs:
            raise ValidationError({"version": [_("Give the version of the row you are changing.")]})
        if "reason" in attrs and "change_reason" in attrs and not _has_reason_field(self.Meta.model):
            raise ValidationError({"change_reason": [
                _("Give the reason for change once: as reason or as change_reason, not both.")]})
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        shown = request is not None and can_see_identifiers(request.user)
        for model_field in type(instance)._meta.concrete_fields:
            if mask_for(model_field, identifiers_shown=shown):
                data.pop(model_field.name, None)
        return data


class ScopedSlugField(serializers.SlugRelatedField):
    """A related row by its key, among the rows the user may see. A key no database could
    hold (a NUL character) is simply one that does not exist."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value="")
        return super().to_internal_value(data)


class PatientKeyField(ScopedSlugField):
    def get_queryset(self):
        request = self.context.get("request")
        return patient_list_for_user(user=request.user) if request else Patient.objects.none()


MISSING_CODES_HELP = (
    "Missing-data codes: question → code (" + ", ".join(f"{code} = {label}" for code, label in MissingCode.choices)
    + "), for the questions the source record cannot answer; a coded question's value is null. "
    "Giving a value and a code for the same question is refused (400 on that question). "
    "POST and PUT: the codes given are the row's codes (none if omitted). "
    "PATCH with `missing_codes`: they replace all the row's codes. "
    "PATCH without it: the row keeps its codes, except that a question given a value loses its code."
)


class StrictCodeField(serializers.CharField):
    """A missing-data code: a string (no number turned into one). Whether it is a code, and
    whether the question takes one, is the service's check, reported on the question."""

    default_error_messages = {"invalid": _("A missing-data code is a string: UNK, ND or NA.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"type": "string", "enum": list(MissingCode.values)},
})
class MissingCodesField(serializers.DictField):
    default_error_messages = {"not_a_dict": _("Give the missing-data codes as an object: question → code.")}

    def __init__(self, **kwargs):
        super().__init__(child=StrictCodeField(allow_blank=True, max_length=8), **kwargs)


def row_values_apply(row, values: dict, *, partial: bool):
    """Set the values and missing-data codes of a request on a row: the codes given replace
    the row's; without codes, a full write (PUT) leaves none and a partial one (PATCH) keeps
    the codes of the questions it gives no value."""
    values = dict(values)
    codes = values.pop("missing_codes", None)
    if codes is None:
        codes = {name: code for name, code in (row.missing_codes or {}).items()
                 if is_empty(values.get(name))} if partial else {}
    for name, value in values.items():
        setattr(row, name, value)
    row.missing_codes = dict(codes)
    return row


class FormRowSerializer(CrfRowSerializer):
    """A row of a casebook form: its questions, with `missing_codes` for the questions answered
    by a code instead of a value (see the field's description for POST/PUT/PATCH). A question
    that takes a code accepts null, so that the code can stand in for the value; whether it
    is answered is the service's check, reported with every other problem of the row."""

    codable: tuple[str, ...] = ()

    def get_fields(self):
        fields = super().get_fields()
        model = self.Meta.model
        for name in self.codable:
            field = fields.get(name)
            if field is None or field.read_only:
                continue
            field.required = False
            field.allow_null = True
            if model._meta.get_field(name).null is False and hasattr(field, "allow_blank"):
                field.allow_blank = True
        return fields

    def to_internal_value(self, data):
        try:
            values = super().to_internal_value(data)
        except ValidationError as error:
            raise ValidationError(self._with_row_problems(data, error.detail)) from None
        return self._stored(values)

    def _stored(self, values: dict) -> dict:
        """A null answer to a question stored as text (no value: a code stands in) is stored empty."""
        model = self.Meta.model
        return {
            name: "" if value is None and name in self.codable and not model._meta.get_field(name).null else value
            for name, value in values.items()
        }

    def _with_row_problems(self, data, errors):
        """DRF's errors of the fields it could not read, and the service's problems of the row
        made of the others (codes, required questions, edit checks): every problem at once."""
        if not isinstance(errors, dict) or not hasattr(data, "get"):
            return errors
        questions = {f.name for f in self.Meta.model._meta.concrete_fields} | {"missing_codes"}
        values = {}
        for name, field in self.fields.items():
            if field.read_only or name in errors or name == "version" or field.source not in questions:
                continue
            primitive = field.get_value(data)
            if primitive is empty:
                continue
            try:
                values[field.source] = field.run_validation(primitive)
            except (ValidationError, DjangoValidationError):
                errors[name] = [_("This value is not valid.")]
        values = self._stored(values)
        if self.instance is not None:
            row = type(self.instance).objects.filter(pk=self.instance.pk).first()
            if row is None:
                return errors
            values.pop("patient", None)
        elif isinstance(values.get("patient"), Patient):
            codes = values.pop("missing_codes", {})
            row = self.Meta.model(**values)
            values = {"missing_codes": codes}
        else:
            return errors
        row_values_apply(row, values, partial=self.partial)
        invalid = [self.fields[name].source for name in errors if name in self.fields]
        for name, messages in row_problems(row, patient=row.patient, invalid=invalid).items():
            key = "non_field_errors" if name == "__all__" else name
            if key not in errors:
                errors[key] = messages
        return errors

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in (getattr(instance, "missing_codes", None) or {}):
            if name in data:
                data[name] = None
        return data


def form_row_serializer(model, *, codable=(), mixins=(), extra_read_only=()):
    """The serializer of a form's rows, the patient given by study ID (scoped to the user).
    `mixins` are serializers whose declared fields the form's rows add (a reference term
    given by its code, and what the term says)."""

    model_fields = [
        f.name for f in model._meta.concrete_fields
        if f.name not in BOOKKEEPING_FIELDS | {"missing_codes"}
    ]
    change_fields = ["change_reason"] if "reason" in model_fields else ["reason", "change_reason"]
    mixin_fields = [name for mixin in mixins for name in mixin._declared_fields if name not in model_fields]
    fields = ["id", "patient", "version", *change_fields, "created_at", "updated_at", *model_fields,
              *mixin_fields, "missing_codes"]
    meta = type("Meta", (), {
        "model": model,
        "fields": fields,
        "read_only_fields": ["id", "created_at", "updated_at", *extra_read_only],
        # The model's constraints are checked by the service, in one place, with the edit checks.
        "validators": [],
    })
    codable_help = (f" Questions of this form that take a code: {', '.join(codable)}." if codable
                    else " No question of this form takes a code.")
    attrs = {
        "Meta": meta,
        "codable": tuple(codable),
        # A form with its own `reason` field (end of treatment) takes the reason for change as change_reason.
        **({"reason": None} if "reason" in model_fields else {}),
        "patient": PatientKeyField(slug_field="study_id", help_text="Study ID of the patient."),
        "missing_codes": MissingCodesField(required=False, help_text=MISSING_CODES_HELP + codable_help),
        "__module__": model.__module__,
        "__doc__": FormRowSerializer.__doc__,
    }
    return type(f"{model.__name__}Serializer", (*mixins, FormRowSerializer), attrs)


class UpdatedSinceFilter(filters.IsoDateTimeFilter):
    """Rows changed at or after an ISO 8601 time, compared in UTC: any offset Python accepts
    (up to ±23:59) works, although PostgreSQL refuses offsets beyond ±15:59 in a query."""

    def __init__(self, **kwargs):
        kwargs.setdefault("field_name", "updated_at")
        kwargs.setdefault("lookup_expr", "gte")
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError({"updated_since": [_("This time is out of range.")]}) from None
        return super().filter(qs, value)


class FormRowFilter(filters.FilterSet):
    center = filters.CharFilter(field_name="patient__center__code", help_text="Center code, e.g. RM01.")
    patient = filters.CharFilter(field_name="patient__study_id", help_text="Study ID.")
    updated_since = UpdatedSinceFilter(help_text="Rows changed at or after this time (ISO 8601).")


def change_reason_pop(data: dict, *, request, model) -> str:
    """The reason for change from the body (`reason`, or `change_reason`) or the header;
    removed from `data`. A form with its own `reason` field only takes `change_reason`."""
    reason = data.pop("change_reason", "")
    if not _has_reason_field(model):
        reason = data.pop("reason", "") or reason
    return reason or request.headers.get(REASON_HEADER, "")


def _has_reason_field(model) -> bool:
    return any(f.name == "reason" for f in model._meta.concrete_fields)


def _delete_reason(request, model) -> str:
    body = request.data if hasattr(request.data, "get") else {}
    names = ["change_reason"] if _has_reason_field(model) else ["change_reason", "reason"]
    for name in names:
        value = body.get(name) or request.query_params.get(name)
        if value:
            return str(value)
    return request.headers.get(REASON_HEADER, "")


class CrfRowViewSet(viewsets.ModelViewSet):
    """List, read, create, change and (repeating forms) delete the rows of one form."""

    model = None
    permission_classes = [IsAuthenticated, ClinicalWritePermission]
    filterset_class = None
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    reference_fields: tuple[str, ...] = ()

    def get_queryset(self):
        return form_rows_for_user(user=self.request.user, model=self.model).select_related(
            "patient__center", *self.reference_fields).order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        reason = change_reason_pop(data, request=self.request, model=self.model)
        data.pop("version", None)
        codes = data.pop("missing_codes", {})
        row = row_values_apply(self.model(**data), {"missing_codes": codes}, partial=False)
        crf_row_save(user=self.request.user, row=row, reason=reason)
        serializer.instance = row

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        reason = change_reason_pop(data, request=self.request, model=self.model)
        expected_version = data.pop("version")
        data.pop("patient", None)  # a row never moves to another casebook
        row = row_values_apply(serializer.instance, data, partial=serializer.partial)
        crf_row_save(user=self.request.user, row=row, reason=reason, expected_version=expected_version)

    @extend_schema(parameters=[
        OpenApiParameter("version", OpenApiTypes.INT, required=True, description="The version you read."),
        OpenApiParameter("reason", OpenApiTypes.STR, description="Reason for change (complete forms)."),
        OpenApiParameter("change_reason", OpenApiTypes.STR, description="Reason for change (alias of reason)."),
    ])
    def destroy(self, request, *args, **kwargs):
        row = self.get_object()
        version = request.query_params.get("version", request.data.get("version") if hasattr(request.data, "get")
                                           else None)
        try:
            expected_version = int(version)
        except (TypeError, ValueError):
            raise ValidationError({"version": [_("Give the version of the row you are deleting.")]}) from None
        crf_row_delete(user=request.user, row=row, reason=_delete_reason(request, self.model),
                       expected_version=expected_version)
        return Response(status=status.HTTP_204_NO_CONTENT)


def crf_viewset(part: Part, *, serializer_mixins=()):
    """The viewset of one part of a form: a repeating part can delete rows; a single one cannot.
    `serializer_mixins` add declared fields to its rows (see `form_row_serializer`)."""
    model, repeating = part.model, part.repeating
    serializer_class = form_row_serializer(model, codable=part.codable, mixins=serializer_mixins)
    filter_class = type(f"{model.__name__}Filter", (FormRowFilter,), {
        "Meta": type("Meta", (), {"model": model, "fields": ["center", "patient", "updated_since"]}),
    })
    methods = CrfRowViewSet.http_method_names if repeating else [m for m in CrfRowViewSet.http_method_names
                                                                  if m != "delete"]
    name = model._meta.verbose_name_plural
    viewset = type(f"{model.__name__}ViewSet", (CrfRowViewSet,), {
        "model": model,
        "serializer_class": serializer_class,
        "filterset_class": filter_class,
        "http_method_names": methods,
        "reference_fields": tuple(part.reference_fields),
        "__doc__": f"Rows of the form '{name}' of the casebooks you may see.",
        "__module__": model.__module__,
    })
    return extend_schema_view(
        list=extend_schema(tags=[str(name)]), retrieve=extend_schema(tags=[str(name)]),
        create=extend_schema(tags=[str(name)]), update=extend_schema(tags=[str(name)]),
        partial_update=extend_schema(tags=[str(name)]),
        **({"destroy": extend_schema(tags=[str(name)])} if repeating else {}),
    )(viewset)
