"""Complete, valid casebooks for the data-management tests."""

import datetime as dt
from decimal import Decimal

from patients.models import FormState, FormStatus, Patient
from patients.registry import casebook
from tests import factories


def full_casebook(center, *, status: str = FormStatus.COMPLETE, **patient_fields) -> Patient:
    """One patient with every form filled consistently (two IO cycles, CR, HSCT, VOD/SOS after
    HSCT, alive at last contact 2020-01-15) and every form in `status`."""
    patient = factories.PatientFactory(center=center, **patient_fields)
    factories.BaselineFactory(patient=patient)
    factories.PriorLineFactory(patient=patient)
    factories.IOCycleFactory(patient=patient)
    factories.IOCycleFactory(
        patient=patient, cycle_number=2, start_date=dt.date(2017, 3, 29), dose_day1=Decimal("0.5")
    )
    factories.EndOfTreatmentFactory(patient=patient, reason="hsct")
    factories.ResponseFactory(patient=patient)
    factories.HsctFactory(patient=patient)
    factories.AdverseEventFactory(patient=patient)
    factories.VodFactory(patient=patient)
    factories.FollowUpFactory(patient=patient)
    for form in casebook.form_keys():
        FormState.objects.create(patient=patient, form=form, status=status)
    return patient


def state_of(patient, form) -> str:
    return FormState.objects.get(patient=patient, form=form).status
