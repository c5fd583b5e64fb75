import pytest

from tests.patients.casebooks import full_casebook


@pytest.fixture
def casebook(center):
    return full_casebook(center)


@pytest.fixture
def other_casebook(other_center):
    return full_casebook(other_center)
