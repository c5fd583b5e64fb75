"""Home, the patient list and the enrollment of a new patient."""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from patients.casebook_page import COMPLETE_STATES
from patients.forms import PatientEnrollForm, PatientFilterForm
from patients.models import EnrollmentStatus, FormState, Patient
from patients.queries import open_query_counts
from patients.registry import casebook
from patients.selectors import patient_list_for_user
from patients.services import patient_enroll
from sites.roles import can_edit_clinical_data, can_see_identifiers, can_see_queries
from sites.selectors import center_list_for_user

PAGE_SIZE = 25


def with_completeness(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients, each with `forms_complete`: how many of its forms are complete."""
    # A correlated subquery, not a join with GROUP BY: the database counts the form states of
    # the page's 25 patients only, not of the whole registry before paginating.
    complete = (
        FormState.objects.filter(patient=OuterRef("pk"), status__in=COMPLETE_STATES)
        .order_by()
        .values("patient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return patients.annotate(forms_complete=Coalesce(Subquery(complete, output_field=IntegerField()), 0))


def filter_patients(patients: QuerySet[Patient], filters: dict) -> QuerySet[Patient]:
    if filters.get("q"):
        patients = patients.filter(study_id__icontains=filters["q"].strip())
    if filters.get("center"):
        patients = patients.filter(center=filters["center"])
    if filters.get("status"):
        patients = patients.filter(enrollment_status=filters["status"])
    completeness = filters.get("completeness")
    if completeness == "not_started":
        patients = patients.filter(forms_complete=0)
    elif completeness == "in_progress":
        patients = patients.filter(forms_complete__gt=0, forms_complete__lt=len(casebook))
    elif completeness == "complete":
        patients = patients.filter(forms_complete__gte=len(casebook))
    return patients


def _page(request, patients: QuerySet[Patient]):
    """One page of patients with their completeness. The page is cut on the bare patient
    rows first, so that completeness is counted for the 25 patients shown, not for every
    patient before the page's offset."""
    ordered = patients.order_by("center__code", "sequence").values_list("pk", flat=True)
    page = Paginator(ordered, PAGE_SIZE).get_page(request.GET.get("page"))
    pks = list(page.object_list)
    rows = with_completeness(Patient.objects.filter(pk__in=pks).select_related("center")).in_bulk(pks)
    page.object_list = [rows[pk] for pk in pks]
    return page


def _list_context(request, page, **extra) -> dict:
    return {
        "page": page,
        "form_count": len(casebook),
        "identifiers_shown": can_see_identifiers(request.user),
        "can_edit": can_edit_clinical_data(request.user),
        **extra,
    }


@login_required
def home(request):
    """The user's centers with their counts (open queries too), and their patients with each
    casebook's completeness."""
    centers = center_list_for_user(user=request.user).annotate(
        enrolled=Count("patients", filter=Q(patients__is_deleted=False, patients__enrollment_status=EnrollmentStatus.ENROLLED)),
        excluded=Count("patients", filter=Q(patients__is_deleted=False, patients__enrollment_status=EnrollmentStatus.EXCLUDED)),
        withdrawn=Count("patients", filter=Q(patients__is_deleted=False, patients__enrollment_status=EnrollmentStatus.WITHDRAWN)),
    )
    # One GROUP BY over the form states: the patients with every form complete, by center.
    complete_by_center = Counter(
        FormState.objects.filter(status__in=COMPLETE_STATES, patient__in=patient_list_for_user(user=request.user))
        .values("patient")
        .annotate(n=Count("pk"))
        .filter(n__gte=len(casebook))
        .values_list("patient__center", flat=True)
    )
    # One aggregate query for the open-query counts of the summary and of each center.
    query_counts = open_query_counts(user=request.user, per_field=False)
    center_rows = [
        (center, complete_by_center.get(center.pk, 0), query_counts.by_center.get(center.pk, 0)) for center in centers
    ]
    page = _page(request, patient_list_for_user(user=request.user))
    return render(
        request,
        "home.html",
        _list_context(
            request,
            page,
            center_rows=center_rows,
            query_counts=query_counts,
            queries_shown=can_see_queries(request.user),
        ),
    )


@login_required
def patient_list(request):
    centers = center_list_for_user(user=request.user)
    filters = PatientFilterForm(request.GET or None, centers=centers)
    patients = with_completeness(patient_list_for_user(user=request.user))
    if filters.is_bound and filters.is_valid():
        patients = filter_patients(patients, filters.cleaned_data)
    page = _page(request, patients)
    query = request.GET.copy()
    query.pop("page", None)
    context = _list_context(request, page, filters=filters, query=query.urlencode())
    template = "patients/_table.html" if request.htmx else "patients/list.html"
    return render(request, template, context)


@login_required
def patient_enroll_view(request):
    """The enrollment & eligibility form; on save the study ID is generated."""
    if not can_edit_clinical_data(request.user):
        raise PermissionDenied(_("You may not enroll patients."))
    centers = center_list_for_user(user=request.user)
    if request.method == "POST":
        form = PatientEnrollForm(request.POST, centers=centers)
        if form.is_valid():
            try:
                patient = patient_enroll(user=request.user, patient=form.instance)
            except ValidationError as error:
                form.add_service_errors(error)
            except PermissionDenied as error:
                form.add_error("center", str(error.args[0]) if error.args else _("You may not enroll patients in this center."))
            else:
                messages.success(request, _("Patient %(study_id)s enrolled.") % {"study_id": patient.study_id}
                                 if patient.enrollment_status == EnrollmentStatus.ENROLLED
                                 else _("Patient %(study_id)s recorded as excluded.") % {"study_id": patient.study_id})
                return redirect(reverse("casebook:detail", args=[patient.study_id]))
    else:
        form = PatientEnrollForm(centers=centers, initial={"center": centers.first()})
    return render(request, "patients/enroll.html", {"form": form})
