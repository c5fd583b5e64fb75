from django.contrib import admin

from patients.admin import ReadOnlyClinicalAdmin
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine


@admin.register(PriorTherapyLine)
class PriorTherapyLineAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "line_number", "category", "start_date", "end_date", "best_response", "is_deleted"]
    list_filter = ["category"]
    search_fields = ["patient__study_id"]


@admin.register(IOCycle)
class IOCycleAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "cycle_number", "start_date", "dose_day1", "dose_day8", "dose_day15", "is_deleted"]
    search_fields = ["patient__study_id"]


@admin.register(EndOfTreatment)
class EndOfTreatmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "reason"]
    list_filter = ["reason"]
    search_fields = ["patient__study_id"]


@admin.register(AlloHsct)
class AlloHsctAdmin(ReadOnlyClinicalAdmin):
    list_display = ["patient", "performed", "hsct_date", "donor", "conditioning"]
    list_filter = ["performed", "donor"]
    search_fields = ["patient__study_id"]
