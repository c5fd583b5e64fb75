"""The data-management API: data queries (list, raise, answer, close, re-open), the monitors'
form workflow (verify, lock, unlock with a reason), a casebook's audit trail and its signature.

Thin callers of the services and selectors of the pages (`patients.queries`,
`patients.workflow`, `patients.audit`, `patients.signatures`): the same rules, the same
roles (`sites.roles`), the same masking. A casebook or query of a center the user may not see
is 404, as if it did not exist."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from patients.api.filters import paging_parameters, query_parameters_check
from patients.api.forms import REASON_HEADER, PatientKeyField
from patients.audit import casebook_audit_trail
from patients.clinical import FREE_TEXT_MASK
from patients.models import UNRESOLVED_QUERY_STATES, DataQuery, DataQueryMessage, FormState, QueryState
from patients.queries import (
    query_answer,
    query_close,
    query_list_for_user,
    query_raise,
    query_reopen,
    require_reviewer,
)
from patients.registry import casebook, form_choices
from patients.signatures import casebook_signature_get, casebook_signature_list, casebook_unsigned_reasons
from patients.workflow import FORM_TRANSITION_SERVICES
from sites.roles import can_see_identifiers, can_see_queries

QUERY_TAG = "data queries"
CASEBOOK_TAG = "data management"
QUERY_TEXT_MAX_LENGTH = 10000


def _part_slugs() -> list[str]:
    return [part.slug for part in casebook.parts()]


# --- Data queries ---------------------------------------------------------------------------


class CanSeeQueries(BasePermission):
    """Queries quote the casebook: for the roles that see it whole (not statisticians)."""

    message = "Only site staff, monitors and administrators see data queries."

    def has_permission(self, request, view):
        return can_see_queries(request.user)


class QueryMessageSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DataQueryMessage
        fields = ["kind", "text", "author", "created_at"]


class QuerySerializer(serializers.ModelSerializer):
    """A data query and its thread (question, answers, closing and re-opening, oldest first)."""

    patient = serializers.SlugRelatedField(slug_field="study_id", read_only=True, help_text="Study ID.")
    center = serializers.CharField(source="patient.center.code", read_only=True, help_text="Center code.")
    part = serializers.SerializerMethodField(help_text="The endpoint of the row's part (e.g. io-cycles), or null "
                                                       "for a query on the whole form.")
    automatic = serializers.SerializerMethodField(help_text="Raised by the automatic checks, not by a person.")
    raised_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    messages = QueryMessageSerializer(many=True, read_only=True)

    class Meta:
        model = DataQuery
        fields = ["id", "patient", "center", "form", "part", "row_id", "field_name", "question", "state",
                  "automatic", "raised_by", "raised_at", "answered_at", "closed_at", "closed_by", "messages"]
        read_only_fields = fields

    def get_part(self, query: DataQuery) -> str | None:
        if query.row_content_type_id is None:
            return None
        return casebook.part_for(query.row_content_type.model_class()).slug

    def get_automatic(self, query: DataQuery) -> bool:
        return bool(query.check_key)


@extend_schema_field(OpenApiTypes.STR)
class StudyIdField(PatientKeyField):
    """A casebook by study ID, among those the user may see."""


class QueryRaiseSerializer(serializers.Serializer):
    """A monitor's question about a form, or one question (`field_name`) of it, or of one row."""

    patient = StudyIdField(slug_field="study_id", help_text="Study ID.")
    form = serializers.ChoiceField(choices=form_choices())
    part = serializers.ChoiceField(
        choices=_part_slugs(), required=False,
        help_text="The endpoint of the row's part (e.g. io-cycles, end-of-treatment), with `row_id`; it may be "
                  "left out when the form has one part.")
    row_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                      help_text="The id of the row (as in its endpoint) the query is about.")
    field_name = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                       help_text="The question of the form (its field name) the query is about.")
    question = serializers.CharField(max_length=QUERY_TEXT_MAX_LENGTH)

    def validate(self, attrs):
        attrs["row"] = None
        form = casebook.form(attrs["form"])
        slug = attrs.get("part")
        if slug is None and "row_id" not in attrs:
            return attrs
        if slug is None:
            parts = [part for part in form.parts if not part.is_patient]
            if len(parts) != 1:
                raise ApiValidationError({"part": [_("Say which part of the form the row is in.")]})
            part = parts[0]
        else:
            part = casebook.part_by_slug(slug)
            if part.form.key != form.key:
                raise ApiValidationError({"part": [_("This part is not in the form.")]})
        patient = attrs["patient"]
        if part.is_patient:
            attrs["row"] = patient
        elif "row_id" not in attrs:
            raise ApiValidationError({"row_id": [_("Give the id of the row.")]})
        else:
            attrs["row"] = part.model.objects.filter(pk=attrs["row_id"], patient=patient, is_deleted=False).first()
            if attrs["row"] is None:
                raise ApiValidationError({"row_id": [_("This casebook has no such row in this form.")]})
        return attrs


class QueryTextSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=QUERY_TEXT_MAX_LENGTH,
                                 help_text="The answer (required to answer), a closing note (optional), or why "
                                           "the query is re-opened (required to re-open).")


class QueryFilter(filters.FilterSet):
    center = filters.CharFilter(field_name="patient__center__code", help_text="Center code, e.g. RM01.")
    patient = filters.CharFilter(field_name="patient__study_id", help_text="Study ID.")
    form = filters.ChoiceFilter(choices=form_choices)
    state = filters.ChoiceFilter(choices=QueryState.choices)
    unresolved = filters.BooleanFilter(method="filter_unresolved",
                                       help_text="true: open or answered queries; false: closed ones.")

    class Meta:
        model = DataQuery
        fields = ["center", "patient", "form", "state", "unresolved"]

    def filter_unresolved(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(state__in=UNRESOLVED_QUERY_STATES) if value else queryset.exclude(
            state__in=UNRESOLVED_QUERY_STATES)


def _text_action(name: str, service, description: str):
    def handler(self, request, pk=None):
        query = self.get_object()
        body = QueryTextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service(user=request.user, query=query, text=body.validated_data.get("text", ""))
        return Response(QuerySerializer(self.get_queryset().get(pk=query.pk), context={"request": request}).data)
    handler.__name__ = name
    return extend_schema(tags=[QUERY_TAG], request=QueryTextSerializer, responses=QuerySerializer,
                         description=description)(action(detail=True, methods=["post"])(handler))


@extend_schema_view(
    list=extend_schema(tags=[QUERY_TAG], description="The data queries of the centers you may see, newest first."),
    retrieve=extend_schema(tags=[QUERY_TAG]),
)
class DataQueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Data queries: monitors raise and close them, site staff answer them."""

    serializer_class = QuerySerializer
    permission_classes = [IsAuthenticated, CanSeeQueries]
    filterset_class = QueryFilter
    lookup_value_regex = "[0-9]+"
    queryset = DataQuery.objects.none()  # the schema's model; the rows come from the selector

    def get_queryset(self):
        return query_list_for_user(user=self.request.user).select_related("closed_by").prefetch_related(
            "messages__author").order_by("-raised_at", "-pk")

    def get_object(self):
        if not str(self.kwargs.get("pk", "")).isdigit() or int(self.kwargs["pk"]) > 2**63 - 1:
            raise NotFound
        return super().get_object()

    @extend_schema(tags=[QUERY_TAG], request=QueryRaiseSerializer, responses={201: QuerySerializer},
                   description="Raise a query (monitors) about a form, one of its questions, or one row.")
    def create(self, request):
        require_reviewer(request.user)
        body = QueryRaiseSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        query, _created = query_raise(user=request.user, patient=data["patient"], form=data["form"],
                                      question=data["question"], row=data["row"],
                                      field_name=data.get("field_name", ""))
        return Response(QuerySerializer(self.get_queryset().get(pk=query.pk), context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    answer = _text_action("answer", query_answer, "Answer an open query (site staff of the query's center). "
                                                  "Correct the data through its form, with its reason for change.")
    close = _text_action("close", query_close, "Close a query (monitors), with an optional note.")
    reopen = _text_action("reopen", query_reopen, "Re-open a closed query (monitors), saying why.")


# --- Form workflow, audit trail and signature of a casebook ----------------------------------


class FormTransitionSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FormState
        fields = ["form", "status", "changed_at", "changed_by"]


class UnlockSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                   help_text=f"Why the form is unlocked (required), or the {REASON_HEADER} header.")


class AuditChangeSerializer(serializers.Serializer):
    field_name = serializers.CharField()
    question = serializers.CharField()
    old = serializers.CharField(help_text="The old value as stored (a missing-data code as its code), "
                                          "masked where your role may not see it; empty for none.")
    new = serializers.CharField()
    old_shown = serializers.CharField(help_text="The old value as the audit page shows it.")
    new_shown = serializers.CharField()


class AuditEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    form = serializers.CharField(help_text="The form's key; empty for the casebook as a whole (its signature).")
    form_label = serializers.CharField()
    record = serializers.CharField()
    record_id = serializers.IntegerField()
    row = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "changed", "deleted", "restored"])
    who = serializers.CharField()
    reason = serializers.CharField()
    changes = AuditChangeSerializer(many=True)


class AuditParametersSerializer(serializers.Serializer):
    form = serializers.ChoiceField(choices=form_choices(), required=False)


class SignatureSerializer(serializers.Serializer):
    signer = serializers.CharField(source="signer.username")
    signer_name = serializers.CharField(source="signer.get_full_name")
    signed_at = serializers.DateTimeField()
    meaning = serializers.CharField()
    is_void = serializers.BooleanField()
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.SerializerMethodField()

    def get_void_reason(self, signature) -> str:
        request = self.context.get("request")
        if signature.void_reason and not (request and can_see_identifiers(request.user)):
            return FREE_TEXT_MASK  # it quotes a reason for change, free text
        return signature.void_reason


class SignatureStatusSerializer(serializers.Serializer):
    signed = serializers.BooleanField(help_text="The casebook has a valid signature.")
    signature = SignatureSerializer(allow_null=True, help_text="The valid signature, or null.")
    unsigned_reasons = serializers.ListField(child=serializers.CharField(),
                                             help_text="Why the casebook cannot be signed yet (empty when it can).")
    history = SignatureSerializer(many=True, help_text="Every signature, valid or void, newest first.")


FORM_PARAMETER = OpenApiParameter("form", OpenApiTypes.STR, OpenApiParameter.PATH,
                                  enum=[key for key, _label in form_choices()], description="The form's key.")


def _transition_action(transition: str, description: str, request_body=None):
    def handler(self, request, study_id=None, form=None):
        patient = self.get_object()
        if not casebook.has_form(form):
            raise NotFound
        extra = {}
        if request_body is not None:
            body = request_body(data=request.data)
            body.is_valid(raise_exception=True)
            extra["reason"] = body.validated_data.get("reason") or request.headers.get(REASON_HEADER, "")
        state = FORM_TRANSITION_SERVICES[transition](user=request.user, patient=patient, form=form, **extra)
        return Response(FormTransitionSerializer(state).data)
    handler.__name__ = f"form_{transition}"
    handler = action(detail=True, methods=["post"], url_path=rf"forms/(?P<form>[a-z0-9_]+)/{transition}",
                     url_name=f"form-{transition}", permission_classes=[IsAuthenticated], filter_backends=[])(handler)
    return extend_schema(tags=[CASEBOOK_TAG], parameters=[FORM_PARAMETER], request=request_body,
                         responses=FormTransitionSerializer, description=description)(handler)


class CasebookDataManagementMixin:
    """The data-management routes of a casebook, under /api/patients/<study ID>/ (a mixin of
    the patients' viewset: the casebook is found the same way, 404 outside the user's centers)."""

    form_verify = _transition_action(
        "verify", "Source data verified (monitors): a complete form with every query closed becomes verified.")
    form_lock = _transition_action(
        "lock", "Lock a verified form (monitors), refused while a query of the form is not closed.")
    form_unlock = _transition_action(
        "unlock", "Unlock a locked form (monitors), with the reason; it goes back to verified.", UnlockSerializer)

    @extend_schema(tags=[CASEBOOK_TAG], filters=False, parameters=[
        OpenApiParameter("form", OpenApiTypes.STR, enum=[key for key, _label in form_choices()],
                         description="Only the entries of this form."),
        OpenApiParameter("limit", OpenApiTypes.INT, description="Number of entries to return per page."),
        OpenApiParameter("offset", OpenApiTypes.INT, description="The initial index from which to return the entries."),
    ], responses=AuditEntrySerializer(many=True), description=(
        "The casebook's audit trail, newest first: every change, who, when, old → new, the reason; "
        "direct identifiers and free text masked for the roles that may not see them, as on the audit page."))
    @action(detail=True, methods=["get"], url_path="audit", permission_classes=[IsAuthenticated],
            filter_backends=[])
    def audit(self, request, study_id=None):
        patient = self.get_object()
        query_parameters_check(request, known=paging_parameters(self) | {"form"})
        parameters = AuditParametersSerializer(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        entries = casebook_audit_trail(patient=patient, user=request.user,
                                       form=parameters.validated_data.get("form", ""))
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)

    @extend_schema(tags=[CASEBOOK_TAG], responses=SignatureStatusSerializer,
                   description="The casebook's signature: the valid one, why it cannot be signed yet, the history.")
    @action(detail=True, methods=["get"], url_path="signature", permission_classes=[IsAuthenticated],
            filter_backends=[])
    def signature(self, request, study_id=None):
        patient = self.get_object()
        signature = casebook_signature_get(patient=patient)
        context = {"request": request}
        return Response(SignatureStatusSerializer({
            "signed": signature is not None,
            "signature": signature,
            "unsigned_reasons": casebook_unsigned_reasons(patient=patient),
            "history": list(casebook_signature_list(patient=patient)),
        }, context=context).data)
