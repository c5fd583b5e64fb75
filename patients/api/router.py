"""The routes of the casebook under /api/: the patients, and every registered part of a form
at its slug, with a viewset made from the registry."""

from rest_framework.routers import DefaultRouter

from patients.api.forms import crf_viewset
from patients.api.patients import PatientViewSet
from patients.registry import casebook


def casebook_routes(router: DefaultRouter, *, serializer_mixins: dict | None = None) -> DefaultRouter:
    """Register the patients and each form part (but the patient's own) on `router`.
    `serializer_mixins` maps a part's model to the serializers whose fields its rows add
    (declared by the app of the model, which this app may not import)."""
    router.register("patients", PatientViewSet, basename="api-patient")
    for part in casebook.parts():
        if not part.is_patient:
            mixins = (serializer_mixins or {}).get(part.model, ())
            router.register(part.slug, crf_viewset(part, serializer_mixins=mixins), basename=f"api-{part.slug}")
    return router
