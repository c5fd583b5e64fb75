"""Rows of prior lines and IO cycles keep their REDCap instance number (`repeat_instance`)."""

from django.db import migrations

from patients.migrations._instances import repeat_instances_added


class Migration(migrations.Migration):

    dependencies = [
        ("treatments", "0002_missing_data_codes"),
    ]

    operations = repeat_instances_added("treatments", ["PriorTherapyLine", "IOCycle"])
