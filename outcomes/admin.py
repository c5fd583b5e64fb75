from django.contrib import admin

from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.admin import ReadOnlyClinicalAdmin


@admin.register(ResponseAssessment)
class ResponseAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "assessment_date", "response", "marrow_blasts_pct", "mrd_status", "is_deleted"]
    list_filter = ["response", "mrd_status"]
    search_fields = ["patient__study_id"]


@admin.register(AdverseEvent)
class AdverseEventAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "ctcae_term", "grade", "onset_date", "resolution_date", "serious", "is_deleted"]
    list_filter = ["grade", "ctcae_term__soc"]
    raw_id_fields = ["ctcae_term"]
    search_fields = ["patient__study_id"]


@admin.register(VodSosEvent)
class VodSosEventAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "diagnosis_date", "severity", "setting", "outcome", "is_deleted"]
    search_fields = ["patient__study_id"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "vital_status", "death_date", "death_cause", "last_contact_date"]
    list_filter = ["vital_status", "death_cause"]
    search_fields = ["patient__study_id"]
