from tests.analytics.celery_worker import celery_worker  # noqa: F401  (fixture)
