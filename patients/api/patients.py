"""The REST API of patients: the enrollment & eligibility form, and the form states of their casebooks."""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from patients.api.data_management import CasebookDataManagementMixin
from patients.api.forms import (
    REASON_HEADER,
    ClinicalWritePermission,
    CrfRowSerializer,
    ScopedSlugField,
    UpdatedSinceFilter,
    change_reason_pop,
)
from patients.models import STUDY_ID_PATTERN, FormState, FormStatus, Patient
from patients.registry import form_choices
from patients.selectors import patient_list_for_user
from patients.services import crf_row_save, patient_enroll
from patients.workflow import SITE_ACTIONS, TRANSITIONS_BY_ACTION, form_status_set
from sites.models import Center
from sites.selectors import center_list_for_user


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
    form = serializers.ChoiceField(choices=form_choices())
    status = serializers.ChoiceField(choices=[(TRANSITIONS_BY_ACTION[action].target, FormStatus(
        TRANSITIONS_BY_ACTION[action].target).label) for action in SITE_ACTIONS])
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000,
        help_text=f"Reason for reopening a complete form (in_progress), or the {REASON_HEADER} header.",
    )


class FormStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormState
        fields = ["form", "status", "changed_at"]


@extend_schema_view(
    list=extend_schema(tags=["patients"]), retrieve=extend_schema(tags=["patients"]),
    create=extend_schema(tags=["patients"], description="Enroll a patient (the study ID is generated)."),
    update=extend_schema(tags=["patients"]), partial_update=extend_schema(tags=["patients"]),
)
class PatientViewSet(CasebookDataManagementMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Patients (enrollment & eligibility) of the centers you may see, by study ID."""

    serializer_class = PatientSerializer
    permission_classes = [IsAuthenticated, ClinicalWritePermission]
    filterset_class = PatientFilter
    lookup_field = "study_id"
    lookup_value_regex = STUDY_ID_PATTERN

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
                                status=parameters.validated_data["status"],
                                reason=parameters.validated_data.get("reason") or request.headers.get(REASON_HEADER, ""))
        return Response(FormStateSerializer(state).data)
