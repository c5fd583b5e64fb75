"""The role groups exist after any migrate or flush."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from sites.roles import Role


@pytest.mark.django_db(transaction=True)
def test_the_roles_exist_after_a_flush_and_the_demo_seeds():
    call_command("flush", interactive=False, verbosity=0)
    assert set(Group.objects.values_list("name", flat=True)) == {role.value for role in Role}
    call_command("seed_demo", patients=3, centers=2, verbosity=0)
    assert Group.objects.get(name=Role.STATISTICIAN).user_set.exists()
