from tests.analytics.celery_worker import celery_worker, worker_queue  # noqa: F401  (fixtures)
