from django.urls import path

from outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("ctcae-terms/", views.ctcae_term_search_view, name="ctcae-search"),
]
