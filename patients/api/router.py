"""The routes of the casebook under /api/: the patients, and every registered part of a form
at its slug, with a viewset made from the registry."""

from rest_framework.routers import DefaultRouter

from patients.api.forms import crf_viewset
from patients.api.patients import PatientViewSet
from patients.registry import casebook


def casebook_routes(router: DefaultRouter) -> DefaultRouter:
    """Register the patients and each form part (but the patient's own) on `router`."""
    router.register("patients", PatientViewSet, basename="api-patient")
    for part in casebook.parts():
        if not part.is_patient:
            router.register(part.slug, crf_viewset(part), basename=f"api-{part.slug}")
    return router
