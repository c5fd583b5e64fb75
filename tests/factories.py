"""factory_boy factories of valid casebooks. Rows are saved directly (not through the
services) so that tests of a service set up only what they need."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import BaselineDisease, Patient
from patients.services import instances_number
from sites.models import Center
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

C1D1 = dt.date(2017, 3, 1)


class CenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Center
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"T{chr(65 + n // 100 % 26)}{n % 100:02d}")
    name = factory.Sequence(lambda n: f"Ospedale di prova {n}")
    city = "Roma"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def centers(self, create, extracted, **kwargs):
        for center in extracted or ():
            center.members.add(self)
        self.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    center = factory.SubFactory(CenterFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    study_id = factory.LazyAttribute(lambda p: f"{p.center.code}-{p.sequence:03d}")
    local_hospital_id = factory.Sequence(lambda n: f"H{n:06d}")
    initials = "AB"
    date_of_birth = dt.date(1964, 6, 15)
    sex = "F"
    has_rr_b_all = True
    is_cd22_positive = True
    received_io = True
    c1d1_date = C1D1


class BaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BaselineDisease

    patient = factory.SubFactory(PatientFactory)
    diagnosis_date = dt.date(2015, 1, 10)
    ph_status = "negative"
    cd22_expression_pct = Decimal("85")
    disease_status = "first_relapse"
    marrow_blasts_pct = Decimal("60")
    extramedullary_disease = False
    cns_disease = False
    ecog = 1
    prior_allo_hsct = False


class RepeatingRowFactory(factory.django.DjangoModelFactory):
    """A row of a repeating part, numbered as the services number it (`instances_number`)
    unless the test gives its `repeat_instance`."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        row = model_class(*args, **kwargs)
        instances_number([row] if row.repeat_instance is None else [])
        row.save()
        return row


class PriorLineFactory(RepeatingRowFactory):
    class Meta:
        model = PriorTherapyLine

    patient = factory.SubFactory(PatientFactory)
    line_number = 1
    category = "induction_chemo"
    regimen = "hyper-CVAD"
    start_date = dt.date(2015, 1, 20)
    end_date = dt.date(2015, 7, 1)
    best_response = "cr"


class IOCycleFactory(RepeatingRowFactory):
    class Meta:
        model = IOCycle

    patient = factory.SubFactory(PatientFactory)
    cycle_number = 1
    start_date = C1D1
    dose_day1 = Decimal("0.8")
    dose_day8 = Decimal("0.5")
    dose_day15 = Decimal("0.5")
    delayed = False
    dose_reduced = False


class EndOfTreatmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EndOfTreatment

    patient = factory.SubFactory(PatientFactory)
    reason = "response"


class HsctFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlloHsct

    patient = factory.SubFactory(PatientFactory)
    performed = True
    hsct_date = dt.date(2017, 6, 1)
    donor = "matched_unrelated"
    conditioning = "mac"
    tbi = False
    status_at_hsct = "cr_mrd_neg"
    io_cycles_before = 2


class ResponseFactory(RepeatingRowFactory):
    class Meta:
        model = ResponseAssessment

    patient = factory.SubFactory(PatientFactory)
    assessment_date = dt.date(2017, 3, 28)
    marrow_blasts_pct = Decimal("2")
    response = "cr"
    mrd_status = "negative"
    mrd_method = "flow"


class AdverseEventFactory(RepeatingRowFactory):
    class Meta:
        model = AdverseEvent

    patient = factory.SubFactory(PatientFactory)
    ctcae_term_id = "10001551"  # Alanine aminotransferase increased
    grade = 3
    onset_date = dt.date(2017, 3, 10)
    resolution_date = dt.date(2017, 3, 20)
    serious = False
    relation = "related"


class VodFactory(RepeatingRowFactory):
    class Meta:
        model = VodSosEvent

    patient = factory.SubFactory(PatientFactory)
    diagnosis_date = dt.date(2017, 6, 20)
    criteria = "ebmt_2016"
    severity = "severe"
    setting = "after_hsct"
    defibrotide = True
    outcome = "resolved"


class FollowUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUp

    patient = factory.SubFactory(PatientFactory)
    relapsed = False
    vital_status = "alive"
    last_contact_date = dt.date(2020, 1, 15)
