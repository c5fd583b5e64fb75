"""Admin for reading casebooks. Clinical data is changed only through the CRF services,
so the admin shows rows and their history but does not edit them."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from patients.models import BaselineDisease, FormState, Patient


class ReadOnlyClinicalAdmin(SimpleHistoryAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Patient)
class PatientAdmin(ReadOnlyClinicalAdmin):
    list_display = ["study_id", "center", "enrollment_status", "c1d1_date", "version"]
    list_filter = ["enrollment_status", "center"]
    search_fields = ["study_id"]


@admin.register(BaselineDisease)
class BaselineDiseaseAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "diagnosis_date", "ph_status", "disease_status", "ecog"]
    search_fields = ["patient__study_id"]


@admin.register(FormState)
class FormStateAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "form", "status", "changed_at", "changed_by"]
    list_filter = ["form", "status"]
    search_fields = ["patient__study_id"]
