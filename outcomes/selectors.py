"""Reads of outcome forms, and the values derived from them."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from outcomes.models import RESPONSE_RANK, CtcaeTerm
from patients.models import Patient
from treatments.models import AlloHsct, ResponseCategory


def best_response_from(assessments, *, hsct_date=None) -> str | None:
    """Best response on IO: the best of CR > CRi > PR > NR > PD > NE among the assessments
    before an HSCT (derived, never typed). `assessments` are (date, response) pairs."""
    responses = {response for day, response in assessments if hsct_date is None or day < hsct_date}
    return next((category.value for category in RESPONSE_RANK if category in responses), None)


def best_response_on_io(patient: Patient) -> str | None:
    """The code of the patient's best response on IO, read from the database."""
    hsct = patient.hsct if hasattr(patient, "hsct") else None
    hsct_date = hsct.hsct_date if hsct and hsct.performed and not hsct.is_deleted else None
    assessments = patient.responses.filter(is_deleted=False).values_list("assessment_date", "response")
    return best_response_from(assessments, hsct_date=hsct_date)


def best_response_label(patient: Patient) -> str:
    """The best response on IO as the casebook page shows it, from the live rows that the
    casebook page's selector prefetched (responses, and the HSCT)."""
    try:
        hsct = patient.hsct
    except AlloHsct.DoesNotExist:
        hsct = None
    hsct_date = hsct.hsct_date if hsct and hsct.performed and not hsct.is_deleted else None
    best = best_response_from([(row.assessment_date, row.response) for row in patient.responses.all()],
                              hsct_date=hsct_date)
    return str(ResponseCategory(best).label) if best else ""


CTCAE_SEARCH_LIMIT = 20


def ctcae_term_search(query: str, *, limit: int = CTCAE_SEARCH_LIMIT) -> QuerySet:
    """CTCAE v5.0 terms matching what a user typed: every word found in the term or its
    class ("febr", "liver fail"), or a MedDRA code's first digits. Terms starting with the
    query come first, then alphabetical. Reference data: no access rule applies."""
    query = " ".join(query.split())[:100]
    if not query:
        return CtcaeTerm.objects.none()
    if query.isdigit():
        matches = CtcaeTerm.objects.filter(meddra_code__startswith=query)
    else:
        words = Q()
        for word in query.split():
            words &= Q(term__icontains=word) | Q(soc__icontains=word)
        matches = CtcaeTerm.objects.filter(words)
    first = Case(When(term__istartswith=query, then=Value(0)), When(term__icontains=query, then=Value(1)),
                 default=Value(2), output_field=IntegerField())
    return matches.annotate(first=first).order_by("first", "term")[:limit]
