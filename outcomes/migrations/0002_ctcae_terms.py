"""The 837 terms of CTCAE v5.0, loaded from the term list shipped with this app."""

from django.db import migrations, models

from outcomes.ctcae import read_terms


def load_terms(apps, schema_editor):
    CtcaeTerm = apps.get_model("outcomes", "CtcaeTerm")
    CtcaeTerm.objects.bulk_create([CtcaeTerm(**row) for row in read_terms()])


def unload_terms(apps, schema_editor):
    apps.get_model("outcomes", "CtcaeTerm").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("outcomes", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="CtcaeTerm",
            fields=[
                ("meddra_code", models.CharField(max_length=8, primary_key=True, serialize=False, verbose_name="MedDRA code")),
                ("soc", models.CharField(db_index=True, max_length=80, verbose_name="system organ class")),
                ("term", models.CharField(max_length=100, unique=True, verbose_name="CTCAE v5 term")),
                ("grade_1", models.TextField(verbose_name="grade 1")),
                ("grade_2", models.TextField(verbose_name="grade 2")),
                ("grade_3", models.TextField(verbose_name="grade 3")),
                ("grade_4", models.TextField(verbose_name="grade 4")),
                ("grade_5", models.TextField(verbose_name="grade 5")),
                ("definition", models.TextField(blank=True, verbose_name="definition")),
                ("haematologic", models.BooleanField(verbose_name="haematologic")),
                ("other_specify", models.BooleanField(verbose_name="'Other, specify' term")),
            ],
            options={
                "verbose_name": "CTCAE v5 term",
                "verbose_name_plural": "CTCAE v5 terms",
                "ordering": ["term"],
            },
        ),
        migrations.RunPython(load_terms, unload_terms),
    ]
