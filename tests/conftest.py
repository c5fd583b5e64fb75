import pytest
from django.conf import settings
from django.db import connection
from django.utils import translation

from sites.roles import Role
from tests.factories import CenterFactory, PatientFactory, UserFactory


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the site's default language: a request in Italian leaves Italian
    active in the test's thread (LocaleMiddleware activates, nothing resets), and messages
    asserted by a later test would come out translated."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def center(db):
    return CenterFactory(code="RM01", name="Policlinico Umberto I", city="Roma")


@pytest.fixture
def other_center(db):
    return CenterFactory(code="MI02", name="Ospedale Niguarda", city="Milano")


@pytest.fixture
def coordinator(center):
    return UserFactory(username="coord-rm01", role=Role.COORDINATOR, centers=[center])


@pytest.fixture
def other_coordinator(other_center):
    return UserFactory(username="coord-mi02", role=Role.COORDINATOR, centers=[other_center])


@pytest.fixture
def investigator(center):
    return UserFactory(username="inv-rm01", role=Role.INVESTIGATOR, centers=[center])


@pytest.fixture
def monitor(db):
    return UserFactory(username="monitor", role=Role.MONITOR)


@pytest.fixture
def statistician(db):
    return UserFactory(username="statistician", role=Role.STATISTICIAN)


@pytest.fixture
def administrator(db):
    return UserFactory(username="administrator", role=Role.ADMINISTRATOR)


@pytest.fixture
def patient(center):
    return PatientFactory(center=center)


@pytest.fixture
def other_patient(other_center):
    return PatientFactory(center=other_center)


@pytest.fixture
def other_investigator(other_center):
    return UserFactory(username="inv-mi02", role=Role.INVESTIGATOR, centers=[other_center])


@pytest.fixture
def broker_down(monkeypatch):
    """Tasks leave this process for a broker that refuses connections, as when Redis is down:
    a port held bound but not listening (so no other process can take it); yields its URL."""
    import socket

    from inocd22.celery import app

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        saved = {key: app.conf.get(key) for key in ("broker_url", "broker_write_url", "task_always_eager")}
        pools = app._pool, app.amqp._producer_pool
        app.conf.broker_url = app.conf.broker_write_url = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        monkeypatch.setenv("CELERY_BROKER_URL", app.conf.broker_url)  # Celery reads it before its settings
        app.conf.task_always_eager = False
        app._pool = app.amqp._producer_pool = None
        try:
            yield app.conf.broker_url
        finally:
            app.conf.update(saved)
            app._pool, app.amqp._producer_pool = pools


@pytest.fixture
def database_copy(db):
    """For a test of what PostgreSQL's COPY writes: skipped on SQLite, whose exports are written
    from the rows (which the other export tests read on both databases)."""
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's: on SQLite the exports are written from the rows")
