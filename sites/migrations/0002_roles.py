"""The study's roles as groups, so administrators assign them in the admin."""

from django.db import migrations

ROLE_GROUPS = ["site_coordinator", "site_investigator", "monitor", "statistician", "administrator"]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("sites", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
