"""Rows of responses, adverse events and VOD/SOS events keep their REDCap instance number
(`repeat_instance`)."""

from django.db import migrations

from patients.migrations._instances import repeat_instances_added


class Migration(migrations.Migration):

    dependencies = [
        ("outcomes", "0005_relapse_date_may_be_coded"),
    ]

    operations = repeat_instances_added("outcomes", ["ResponseAssessment", "AdverseEvent", "VodSosEvent"])
