"""The forms of this app in the casebook registry: response assessments, adverse events,
VOD/SOS and follow-up & outcome; the best response shown on the casebook page, and the
automatic checks across forms."""

from django.utils.translation import gettext_lazy as _

from outcomes.checks import outcome_consistency_problems
from outcomes.forms import AdverseEventForm, FollowUpForm, ResponseForm, VodForm
from outcomes.models import REMISSIONS, AdverseEvent, FollowUp, ResponseAssessment, VodSetting, VodSosEvent
from outcomes.selectors import best_response_label
from outcomes.validators import check_adverse_event, check_follow_up, check_response, check_vod
from patients.display import day_column, derived_column, field_column, show_value
from patients.registry import CasebookForm, Part, casebook
from patients.validators import Event


def response_dates(rows) -> dict:
    responses = [(row.assessment_date, row.response) for row in rows]
    return {
        "after_c1d1": tuple(Event("response assessment", day) for day, _response in responses),
        "first_response_date": min((day for day, response in responses if response in REMISSIONS), default=None),
    }


def adverse_event_dates(rows) -> dict:
    events = [(row.onset_date, row.resolution_date, row.grade) for row in rows]
    return {
        "after_c1d1": (*(Event("adverse event onset", onset) for onset, _end, _grade in events),
                       *(Event("adverse event resolution", end) for _onset, end, _grade in events if end)),
        "grade5_ae_dates": tuple(end or onset for onset, end, grade in events if grade == 5),
    }


def vod_dates(rows) -> dict:
    vods = [(row.diagnosis_date, row.setting) for row in rows]
    return {
        "after_c1d1": tuple(Event("VOD/SOS", day) for day, _setting in vods),
        "after_hsct_vod_dates": tuple(day for day, setting in vods if setting == VodSetting.AFTER_HSCT),
    }


def follow_up_dates(rows) -> dict:
    follow_up = next(iter(rows), None)
    if follow_up is None:
        return {}
    relapse = (Event("relapse", follow_up.relapse_date),) if follow_up.relapse_date else ()
    return {"after_c1d1": relapse, "death_date": follow_up.death_date, "last_contact": follow_up.last_contact_date}


casebook.register(CasebookForm(
    key="responses",
    label=_("Response assessments"),
    order=50,
    requires_data=True,
    why=_("The best response on IO is the primary endpoint: a patient never assessed is recorded as not evaluable."),
    facts=((_("Best response on IO"), best_response_label),),
    parts=(Part(
        ResponseAssessment, slug="responses", repeating=True, form_class=ResponseForm, check=check_response,
        row_label_field="assessment_date", dates=response_dates,
        codable=("marrow_blasts_pct",),
        columns=(
            field_column(ResponseAssessment, "assessment_date"),
            day_column("assessment_date"),
            field_column(ResponseAssessment, "marrow_blasts_pct", numeric=True),
            field_column(ResponseAssessment, "response"),
            field_column(ResponseAssessment, "mrd_status"),
            field_column(ResponseAssessment, "mrd_method"),
        ),
        add_label=_("Add an assessment"),
        export_table="responses",
        export=("assessment_date", "marrow_blasts_pct", "response", "mrd_status", "mrd_method"),
        export_order_by=("patient_id", "assessment_date", "pk"),
    ),),
))

casebook.register(CasebookForm(
    key="adverse_events",
    label=_("Adverse events"),
    order=70,
    requires_data=False,
    why=_("A patient may have none: the site marks the form complete to say so."),
    parts=(Part(
        AdverseEvent, slug="adverse-events", repeating=True, form_class=AdverseEventForm, check=check_adverse_event,
        row_label_field="ctcae_term", dates=adverse_event_dates,
        codable=("resolution_date", "serious", "relation"),
        columns=(
            derived_column(_("CTCAE v5 term"), lambda row: row.term_label, field_name="ctcae_term"),
            derived_column(_("System organ class"), lambda row: row.organ_class),
            derived_column(_("Haematologic"), lambda row: show_value(None, row.is_haematologic)),
            field_column(AdverseEvent, "grade", numeric=True),
            field_column(AdverseEvent, "onset_date"),
            day_column("onset_date"),
            field_column(AdverseEvent, "resolution_date"),
            field_column(AdverseEvent, "serious"),
            field_column(AdverseEvent, "relation"),
        ),
        add_label=_("Add an adverse event"),
        export_table="adverse_events",
        export=("ctcae_term", "term", "other_specify", "organ_class", "haematologic", "grade", "onset_date", "resolution_date", "serious", "relation"),
        export_order_by=("patient_id", "onset_date", "pk"),
    ),),
))

casebook.register(CasebookForm(
    key="vod_sos",
    label=_("VOD/SOS"),
    order=80,
    requires_data=False,
    why=_("Most patients have none: the site marks the form complete to say so."),
    parts=(Part(
        VodSosEvent, slug="vod-sos", repeating=True, form_class=VodForm, check=check_vod,
        row_label_field="diagnosis_date", dates=vod_dates,
        codable=("criteria", "severity", "defibrotide"),
        columns=(
            field_column(VodSosEvent, "diagnosis_date"),
            day_column("diagnosis_date"),
            field_column(VodSosEvent, "criteria"),
            field_column(VodSosEvent, "severity"),
            field_column(VodSosEvent, "setting"),
            field_column(VodSosEvent, "defibrotide"),
            field_column(VodSosEvent, "outcome"),
        ),
        add_label=_("Add a VOD/SOS event"),
        export_table="vod_sos",
        export=("diagnosis_date", "criteria", "severity", "setting", "defibrotide", "outcome"),
        export_order_by=("patient_id", "diagnosis_date", "pk"),
    ),),
))

casebook.register(CasebookForm(
    key="follow_up",
    label=_("Follow-up & outcome"),
    order=90,
    requires_data=True,
    why=_("Vital status and the date of last contact end every time-to-event endpoint."),
    parts=(Part(
        FollowUp, slug="follow-up", repeating=False, form_class=FollowUpForm, check=check_follow_up,
        dates=follow_up_dates,
        codable=("relapsed", "relapse_date", "death_cause"),
        export_table="follow_up",
        export=("relapsed", "relapse_date", "vital_status", "death_date", "death_cause", "last_contact_date"),
    ),),
))

casebook.register_consistency_check(outcome_consistency_problems)
