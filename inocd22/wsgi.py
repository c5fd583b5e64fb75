import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inocd22.settings.production")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402 (after the application has set Django up)

if getattr(settings, "CELERY_WORKER_IN_PROCESS", False):
    from inocd22.celery import embedded_worker_start

    embedded_worker_start()
