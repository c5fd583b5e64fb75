"""The site investigator's electronic signature of a whole casebook."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.models import CasebookSignature, EnrollmentStatus, FormState, FormStatus, Patient
from patients.queries import person_name, require_visible, unresolved_query_list
from patients.registry import casebook
from sites.auth import credentials_confirm
from sites.roles import Role, can_sign_casebook, user_roles

SIGNATURE_MEANING = gettext_lazy(
    "By signing I confirm, as the site investigator responsible for this patient, that I have "
    "reviewed this casebook and that its data are, to the best of my knowledge, complete and "
    "accurate, and consistent with the patient's hospital records."
)


def required_form_keys(patient: Patient) -> list[str]:
    """The forms that must hold data before the casebook is signed: those the registry says
    every enrolled casebook needs; for a patient not enrolled, the enrollment form alone."""
    if patient.enrollment_status == EnrollmentStatus.ENROLLED:
        return casebook.keys_requiring_data()
    return [casebook.patient_part().key]


@dataclass(frozen=True)
class SignedForm:
    """One form of the casebook as the sign-off page summarises it."""

    key: str
    label: str
    status: str  # "" for a form with no data
    status_label: str
    unresolved_queries: int


def casebook_signoff_summary(*, user, patient: Patient) -> list[SignedForm]:
    """What a signature covers: every form of the casebook in casebook order, its status, and
    its open or answered queries (those the user may see)."""
    states = {state.form: state for state in FormState.objects.filter(patient=patient)}
    queries = unresolved_query_list(user=user, patient=patient)
    return [
        SignedForm(
            key=form.key,
            label=str(form.label),
            status=states[form.key].status if form.key in states else "",
            status_label=str(states[form.key].get_status_display()) if form.key in states else _("Empty"),
            unresolved_queries=sum(1 for query in queries if query.form == form.key),
        )
        for form in casebook.forms()
    ]


def signer_description(user) -> str:
    """A signer as the signature names them: full name and study role ("Anna Rossi (Site investigator)")."""
    roles = [str(role.label) for role in Role if role in user_roles(user)]
    name = person_name(user)
    return f"{name} ({', '.join(roles)})" if roles else name


def casebook_signature_get(*, patient: Patient) -> CasebookSignature | None:
    return CasebookSignature.objects.filter(patient=patient, is_void=False).select_related("signer").first()


def casebook_signature_list(*, patient: Patient) -> QuerySet[CasebookSignature]:
    return CasebookSignature.objects.filter(patient=patient).select_related("signer")


def casebook_unsigned_reasons(*, patient: Patient) -> list[str]:
    """Why this casebook cannot be signed yet (empty when it can)."""
    statuses = dict(FormState.objects.filter(patient=patient).values_list("form", "status"))
    reasons = []
    for form in required_form_keys(patient):
        if form not in statuses:
            reasons.append(_("%(form)s: no data.") % {"form": casebook.label(form)})
    for form in casebook.form_keys():
        if statuses.get(form) == FormStatus.IN_PROGRESS:
            reasons.append(_("%(form)s: still in progress.") % {"form": casebook.label(form)})
    return reasons


@transaction.atomic
def casebook_sign(*, user, patient: Patient, password: str, otp_code: str = "") -> CasebookSignature:
    """The site investigator's electronic signature of a complete casebook. The password
    (and the two-factor code, when required) is asked again; the signer, the date-time and
    the meaning are recorded."""
    if not can_sign_casebook(user):
        raise PermissionDenied(_("Only site investigators sign casebooks."))
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    require_visible(user=user, patient=patient)
    credentials_confirm(user=user, password=password, otp_code=otp_code)
    if casebook_signature_get(patient=patient) is not None:
        raise ValidationError(_("This casebook is already signed."))
    reasons = casebook_unsigned_reasons(patient=patient)
    if reasons:
        raise ValidationError(_("The casebook is not complete: %(reasons)s") % {"reasons": " ".join(reasons)})
    signature = CasebookSignature(patient=patient, signer=user, meaning=str(SIGNATURE_MEANING))
    signature._history_user = user
    signature._change_reason = _("Signed")
    signature.save()
    return signature
