from django.urls import path

from patients.views import printing as views

app_name = "crf"

urlpatterns = [
    path("crf.pdf", views.blank_crf_pdf_view, name="blank"),
]
