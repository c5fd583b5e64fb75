from django.urls import path

from redcap_api.api import redcap_api_view

app_name = "redcap"

urlpatterns = [
    # REDCap clients require the URL to end in /api/.
    path("api/", redcap_api_view, name="api"),
]
