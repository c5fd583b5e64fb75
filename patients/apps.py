from django.apps import AppConfig
from django.urls import register_converter
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self):
        # Each clinical app declares its forms in its `casebook` module (as admin.py does its admin).
        autodiscover_modules("casebook")
        from patients.converters import StudyIdConverter

        register_converter(StudyIdConverter, "study_id")
