"""The server side of the adverse-event form's CTCAE term picker."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from outcomes.ctcae import GRADES
from outcomes.selectors import ctcae_term_search


def ctcae_term_json(term) -> dict:
    """A term as the picker shows it: code, term, class, and its grade descriptions
    ('-' where CTCAE defines no such grade for the term)."""
    return {
        "code": term.meddra_code,
        "term": term.term,
        "soc": term.soc,
        "other_specify": term.other_specify,
        "grades": {str(grade): term.grade_description(grade) for grade in GRADES},
    }


@login_required
@require_GET
def ctcae_term_search_view(request):
    """The CTCAE v5.0 terms matching `q` (reference data, the same for every user)."""
    terms = ctcae_term_search(request.GET.get("q", ""))
    return JsonResponse({"terms": [ctcae_term_json(term) for term in terms]})
