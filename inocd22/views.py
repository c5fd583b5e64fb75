from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found, server_error
from rest_framework.exceptions import server_error as api_server_error

API_PREFIX = "/api/"


def healthz(request):
    """Liveness and database reachability, for the load balancer and docker-compose."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request, exception):
    """A path no route matches (e.g. a malformed study ID): JSON under /api/, where clients
    parse every answer, and the site's page everywhere else."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return page_not_found(request, exception)


def internal_error(request):
    if request.path.startswith(API_PREFIX):
        return api_server_error(request)
    return server_error(request)
