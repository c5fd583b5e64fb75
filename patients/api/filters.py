"""Query parameters of the API's lists: a parameter a list does not know is refused (400, naming
it) rather than ignored, so that a misspelt filter (`?study_id=` for `?patient=`) never returns
every row as if it had filtered them.

One filter backend, first of the default ones, does it for every list: a list knows the
filters of its filter backends, the parameters of its paginator, the format suffix, and the
`extra_query_parameters` a view reads itself (a search word)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from rest_framework import mixins
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.settings import api_settings


def query_parameters_check(request, *, known: Iterable[str]) -> None:
    """400 naming each query parameter of the request that is not in `known`."""
    known = set(known)
    unknown = sorted(name for name in request.query_params if name not in known)
    if unknown:
        accepted = ", ".join(sorted(known)) or pgettext("no query parameter", "none")
        raise ValidationError({
            name: [_("Unknown query parameter '%(name)s'. This list accepts: %(known)s.")
                   % {"name": name, "known": accepted}]
            for name in unknown
        })


def _backend_parameters(backend, view, queryset) -> set[str]:
    if not hasattr(backend, "get_filterset_class"):  # DRF's backends (search, ordering) name their own
        return {parameter["name"] for parameter in backend.get_schema_operation_parameters(view)}
    names = set()
    filterset_class = backend.get_filterset_class(view, queryset)  # django-filter
    for name, declared in (filterset_class.base_filters.items() if filterset_class else ()):
        suffixes = getattr(declared.field.widget, "suffixes", None)  # a range filter: name_min, name_max
        names |= {f"{name}_{suffix}" if suffix else name for suffix in suffixes} if suffixes else {name}
    return names


def paging_parameters(view) -> set[str]:
    """The paginator's parameters (limit and offset) and the format override."""
    names = {api_settings.URL_FORMAT_OVERRIDE} if api_settings.URL_FORMAT_OVERRIDE else set()
    paginator = getattr(view, "paginator", None)
    for attribute in ("limit_query_param", "offset_query_param", "page_query_param", "page_size_query_param",
                      "cursor_query_param", "ordering_param"):
        if paginator is not None and getattr(paginator, attribute, None):
            names.add(getattr(paginator, attribute))
    return names


def known_query_parameters(view, queryset=None) -> set[str]:
    """Every query parameter a list view understands."""
    names = paging_parameters(view) | set(getattr(view, "extra_query_parameters", ()))
    for backend_class in getattr(view, "filter_backends", ()):
        names |= _backend_parameters(backend_class(), view, queryset)
    return names


def _is_list(view) -> bool:
    action = getattr(view, "action", None)
    if action is not None:
        return action == "list"
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    return isinstance(view, mixins.ListModelMixin) and lookup not in getattr(view, "kwargs", {})


class KnownQueryParameters(BaseFilterBackend):
    """Refuses (400) a list request with a query parameter the list does not know. Rows read by
    key (retrieve, change, delete) are left alone: they take parameters of their own."""

    def filter_queryset(self, request, queryset, view):
        if _is_list(view):
            query_parameters_check(request, known=known_query_parameters(view, queryset))
        return queryset
