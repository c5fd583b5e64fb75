"""REST API of patients and their casebook forms, and what every form endpoint shares.

Thin callers of the same selectors (reads, scoped to the user: another center's rows are
404) and services (writes: access, form state and reason for change, optimistic locking,
edit checks, history) as the browser forms. Errors are JSON: a field → messages map (400),
a stale version (409, with the row as saved now), a refusal (403)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler

from inocd22.clinical import is_direct_identifier
from patients.models import BaselineDisease, FormKey, FormState, FormStatus, Patient
from patients.selectors import form_rows_for_user, patient_list_for_user
from patients.services import StaleVersionError, crf_row_delete, crf_row_save, form_status_set, patient_enroll
from sites.models import Center
from sites.roles import can_edit_clinical_data, can_see_identifiers
from sites.selectors import center_list_for_user

REASON_HEADER = "X-Reason-For-Change"

# --- Errors ------------------------------------------------------------------------------


def validation_error_data(error: DjangoValidationError) -> dict:
    """A Django ValidationError as {field: [messages]}; errors of the whole row go under
    'non_field_errors' as DRF names them."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def api_exception_handler(exc, context):
    """DRF's handler, plus the domain's exceptions: a stale version is 409 with the row as saved
    now, a Django ValidationError is 400 by field, a database conflict is 409 (never a 500)."""
    if isinstance(exc, StaleVersionError):
        view = context.get("view")
        current = None
        if view is not None and hasattr(view, "get_serializer"):
            current = view.get_serializer(exc.current).data
        return Response(
            {"detail": _("This row was changed by someone else: reload it and apply your change again."),
             "version": exc.current.version, "current": current},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        return Response(validation_error_data(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError):
        return Response({"detail": _("A value cannot be stored as given.")}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        return Response({"detail": _("The change conflicts with another row: reload and try again.")},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoPermissionDenied):
        return Response({"detail": str(exc) or _("You do not have permission to perform this action.")},
                        status=status.HTTP_403_FORBIDDEN)
    return exception_handler(exc, context)


# --- Permissions -------------------------------------------------------------------------


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
        help_text=f"Reason for change, required once the form is complete (or the {REASON_HEADER} header).",
    )
    change_reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=2000,
        help_text="Reason for change: the same as `reason`, and its name in forms that have a `reason` field.",
    )

    def validate(self, attrs):
        if self.instance is not None and "version" not in attrs:
            raise ValidationError({"version": [_("Give the version of the row you are changing.")]})
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not can_see_identifiers(request.user):
            for model_field in type(instance)._meta.concrete_fields:
                if is_direct_identifier(model_field):
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


def form_row_serializer(model, extra_read_only=()):
    """The serializer of a form's rows, the patient given by study ID (scoped to the user)."""

    model_fields = [
        f.name for f in model._meta.concrete_fields
        if f.name not in ("id", "patient", "version", "is_deleted", "created_at", "updated_at")
    ]
    change_fields = ["change_reason"] if "reason" in model_fields else ["reason", "change_reason"]
    fields = ["id", "patient", "version", *change_fields, "created_at", "updated_at", *model_fields]
    meta = type("Meta", (), {
        "model": model,
        "fields": fields,
        "read_only_fields": ["id", "created_at", "updated_at", *extra_read_only],
        # The model's constraints are checked by the service, in one place, with the edit checks.
        "validators": [],
    })
    attrs = {
        "Meta": meta,
        # A form with its own `reason` field (end of treatment) takes the reason for change as change_reason.
        **({"reason": None} if "reason" in model_fields else {}),
        "patient": PatientKeyField(slug_field="study_id", help_text="Study ID of the patient."),
        "__module__": model.__module__,
    }
    return type(f"{model.__name__}Serializer", (CrfRowSerializer,), attrs)


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
        reason = reason or data.pop("reason", "")
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

    def get_queryset(self):
        return form_rows_for_user(user=self.request.user, model=self.model).select_related(
            "patient__center").order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        reason = change_reason_pop(data, request=self.request, model=self.model)
        data.pop("version", None)
        row = self.model(**data)
        crf_row_save(user=self.request.user, row=row, reason=reason)
        serializer.instance = row

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        reason = change_reason_pop(data, request=self.request, model=self.model)
        expected_version = data.pop("version")
        data.pop("patient", None)  # a row never moves to another casebook
        row = serializer.instance
        for name, value in data.items():
            setattr(row, name, value)
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


def crf_viewset(model, *, repeating: bool, selector_doc: str = ""):
    """A viewset of one form: repeating forms can delete rows; single forms cannot."""
    serializer_class = form_row_serializer(model)
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
        "__doc__": f"Rows of the form '{name}' of the casebooks you may see. {selector_doc}",
        "__module__": model.__module__,
    })
    return extend_schema_view(
        list=extend_schema(tags=[str(name)]), retrieve=extend_schema(tags=[str(name)]),
        create=extend_schema(tags=[str(name)]), update=extend_schema(tags=[str(name)]),
        partial_update=extend_schema(tags=[str(name)]),
        **({"destroy": extend_schema(tags=[str(name)])} if repeating else {}),
    )(viewset)


BaselineViewSet = crf_viewset(BaselineDisease, repeating=False)


# --- Patients ------------------------------------------------------------------------------


class CenterKeyField(ScopedSlugField):
    """A center by code, among the centers the user may see."""

    def get_queryset(self):
        request = self.context.get("request")
        return center_list_for_user(user=request.user) if request else Center.objects.none()


class PatientSerializer(CrfRowSerializer):
    """The enrollment & eligibility form. Direct identifiers are shown only to the roles that
    may see them (never to statisticians), and never required in the schema for that reason."""

    center = CenterKeyField(slug_field="code", help_text="Center code, e.g. RM01.")
    local_hospital_id = serializers.CharField(required=False, max_length=40, help_text="Direct identifier.")
    initials = serializers.CharField(required=False, max_length=4, help_text="Direct identifier.")
    date_of_birth = serializers.DateField(required=False, help_text="Direct identifier.")
    form_states = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "study_id", "center", "version", "reason", "change_reason", "local_hospital_id", "initials", "date_of_birth", "sex",
            "has_rr_b_all", "is_cd22_positive", "received_io", "c1d1_date", "enrollment_status", "exclusion_reason",
            "withdrawal_date", "withdrawal_reason", "form_states", "created_at", "updated_at",
        ]
        read_only_fields = ["study_id", "created_at", "updated_at"]
        validators = []

    def get_form_states(self, patient) -> dict[str, str]:
        return {state.form: state.status for state in patient.form_states.all()}


class PatientFilter(filters.FilterSet):
    center = filters.CharFilter(field_name="center__code", help_text="Center code, e.g. RM01.")
    updated_since = UpdatedSinceFilter(help_text="Patients changed at or after this time (ISO 8601).")
    enrollment_status = filters.ChoiceFilter(choices=Patient._meta.get_field("enrollment_status").choices)

    class Meta:
        model = Patient
        fields = ["center", "updated_since", "enrollment_status"]


class FormStatusSerializer(serializers.Serializer):
    form = serializers.ChoiceField(choices=FormKey.choices)
    status = serializers.ChoiceField(choices=[(FormStatus.IN_PROGRESS.value, FormStatus.IN_PROGRESS.label),
                                              (FormStatus.COMPLETE.value, FormStatus.COMPLETE.label)])


class FormStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormState
        fields = ["form", "status", "changed_at"]


@extend_schema_view(
    list=extend_schema(tags=["patients"]), retrieve=extend_schema(tags=["patients"]),
    create=extend_schema(tags=["patients"], description="Enroll a patient (the study ID is generated)."),
    update=extend_schema(tags=["patients"]), partial_update=extend_schema(tags=["patients"]),
)
class PatientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Patients (enrollment & eligibility) of the centers you may see, by study ID."""

    serializer_class = PatientSerializer
    permission_classes = [IsAuthenticated, ClinicalWritePermission]
    filterset_class = PatientFilter
    lookup_field = "study_id"
    lookup_value_regex = "[A-Z]{2}[0-9]{2}-[0-9]+"

    def get_queryset(self):
        return patient_list_for_user(user=self.request.user).prefetch_related("form_states").order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        change_reason_pop(data, request=self.request, model=Patient)
        data.pop("version", None)
        patient = patient_enroll(user=self.request.user, patient=Patient(**data))
        serializer.instance = patient

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        reason = change_reason_pop(data, request=self.request, model=Patient)
        expected_version = data.pop("version")
        data.pop("center", None)  # a patient never moves to another center
        patient = serializer.instance
        for name, value in data.items():
            setattr(patient, name, value)
        crf_row_save(user=self.request.user, row=patient, reason=reason, expected_version=expected_version)

    @extend_schema(tags=["patients"], request=FormStatusSerializer, responses=FormStateSerializer,
                   description="Mark a form of the casebook in progress or complete (site staff).")
    @action(detail=True, methods=["post"], url_path="form-status")
    def form_status(self, request, study_id=None):
        patient = self.get_object()
        parameters = FormStatusSerializer(data=request.data)
        parameters.is_valid(raise_exception=True)
        state = form_status_set(user=request.user, patient=patient, form=parameters.validated_data["form"],
                                status=parameters.validated_data["status"])
        return Response(FormStateSerializer(state).data)


# --- Schema ----------------------------------------------------------------------------------

ERROR_RESPONSES = {
    "400": "Invalid input: a map of field → messages (or `non_field_errors`).",
    "401": "Not authenticated.",
    "403": "Not allowed (role, locked form).",
    "404": "Not found, or not in a center you may see.",
    "405": "Method not allowed.",
    "406": "Not acceptable (Accept header).",
    "415": "Unsupported media type (request body).",
    "409": "Stale version or conflicting change: `version` and `current` give the row as saved now.",
}


def schema_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the JSON errors it may answer."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {"type": "object", "additionalProperties": True,
                        "description": "`detail`, or field name → list of messages."}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in ERROR_RESPONSES.items():
                operation["responses"].setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result
