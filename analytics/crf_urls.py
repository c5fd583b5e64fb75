from django.urls import path

from analytics.crf_views import annotated_crf_pdf_view

app_name = "annotated_crf"

urlpatterns = [
    path("annotated-crf.pdf", annotated_crf_pdf_view, name="pdf"),
]
