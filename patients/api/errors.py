"""Errors of the REST API as JSON: a field → messages map (400), a stale version (409, with
the row as saved now), a database conflict (409), a refusal (403); never a 500 for them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from patients.services import StaleVersionError


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
