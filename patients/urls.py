from django.urls import path

from patients.views import patients as views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_enroll_view, name="enroll"),
]
