"""The REST API of this app: CTCAE v5.0 terms (read-only reference data, searchable), and the
fields that adverse-event rows add to the casebook's generic form serializer: the term by its
MedDRA code, and what the term says (name, system organ class, haematologic)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated

from outcomes.models import AdverseEvent, CtcaeTerm
from outcomes.selectors import CTCAE_SEARCH_LIMIT, ctcae_term_search
from patients.api.filters import KnownQueryParameters
from patients.api.forms import ScopedSlugField

MEDDRA_CODE_PATTERN = r"[0-9]{8}"
CTCAE_SEARCH_MAX = 100


@extend_schema_field({"type": "string", "pattern": f"^{MEDDRA_CODE_PATTERN}$",
                      "description": "MedDRA code of the CTCAE v5.0 term (8 digits)."})
class CtcaeTermKeyField(ScopedSlugField):
    """A CTCAE v5.0 term by its MedDRA code, a string."""

    default_error_messages = {
        "does_not_exist": _("{value} is not a CTCAE v5.0 MedDRA code: find the term at /api/ctcae-terms/?search=."),
        "invalid": _("Give the MedDRA code of a CTCAE v5.0 term as a string of 8 digits."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="meddra_code", queryset=CtcaeTerm.objects.all(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AdverseEventFields(serializers.Serializer):
    """What an adverse-event row adds: `ctcae_term` is the MedDRA code of its CTCAE v5.0 term;
    the term's name, system organ class and haematologic flag are shown with it (read-only)."""

    ctcae_term = CtcaeTermKeyField(help_text="MedDRA code of the CTCAE v5.0 term (8 digits), "
                                             "found with /api/ctcae-terms/?search=.")
    ctcae_term_name = serializers.CharField(source="ctcae_term.term", read_only=True,
                                            help_text="The CTCAE v5.0 term.")
    soc = serializers.CharField(source="ctcae_term.soc", read_only=True,
                                help_text="System organ class (SOC) of the term.")
    haematologic = serializers.BooleanField(source="ctcae_term.haematologic", read_only=True,
                                            help_text="Whether the term is a haematologic event.")


# The fields each model of this app adds to its rows on the API (see patients.api.router).
SERIALIZER_MIXINS = {AdverseEvent: (AdverseEventFields,)}


class CtcaeGradeSerializer(serializers.Serializer):
    grade = serializers.IntegerField(min_value=1, max_value=5)
    description = serializers.CharField()


class CtcaeTermSerializer(serializers.ModelSerializer):
    """A CTCAE v5.0 term: its MedDRA code, term, system organ class, the grades CTCAE defines
    for it with their descriptions (a grade not listed is refused on an adverse event), and
    whether it is haematologic or an 'Other, specify' term (which takes a specified term)."""

    grades = serializers.SerializerMethodField()

    class Meta:
        model = CtcaeTerm
        fields = ["meddra_code", "term", "soc", "definition", "grades", "haematologic", "other_specify"]
        read_only_fields = fields

    @extend_schema_field(CtcaeGradeSerializer(many=True))
    def get_grades(self, term: CtcaeTerm) -> list[dict]:
        return [{"grade": grade, "description": term.grade_description(grade)} for grade in term.grades]


class CtcaeTermPagination(LimitOffsetPagination):
    """A search gives its first few terms unless asked for more; the full list, a page."""

    def get_limit(self, request):
        if "search" in request.query_params and self.limit_query_param not in request.query_params:
            return CTCAE_SEARCH_LIMIT
        return super().get_limit(request)


@extend_schema_view(
    list=extend_schema(tags=["CTCAE v5.0 terms"], parameters=[
        OpenApiParameter("search", OpenApiTypes.STR, description=(
            "Words of the term or its system organ class ('febr', 'liver fail'), or the first digits of "
            f"a MedDRA code: at most {CTCAE_SEARCH_MAX} terms, best first (terms starting with it, then "
            f"alphabetical), {CTCAE_SEARCH_LIMIT} a page unless `limit` says otherwise. "
            "Without it, every term in alphabetical order.")),
    ]),
    retrieve=extend_schema(tags=["CTCAE v5.0 terms"]),
)
class CtcaeTermViewSet(viewsets.ReadOnlyModelViewSet):
    """CTCAE v5.0 terms, the terminology of the adverse-event form: reference data, readable by
    every user with a role."""

    serializer_class = CtcaeTermSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "meddra_code"
    lookup_value_regex = MEDDRA_CODE_PATTERN
    pagination_class = CtcaeTermPagination
    filter_backends = [KnownQueryParameters]
    extra_query_parameters = ("search",)

    def get_queryset(self):
        if self.action == "list" and "search" in self.request.query_params:
            # a NUL character can be in no term, and PostgreSQL takes none in a query
            query = self.request.query_params["search"].replace("\x00", "")
            return ctcae_term_search(query, limit=CTCAE_SEARCH_MAX)
        return CtcaeTerm.objects.order_by("term")
