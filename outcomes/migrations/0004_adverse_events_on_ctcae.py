"""Adverse events move from the form's first list of 36 terms to CTCAE v5.0: each old term
becomes its CTCAE v5.0 row (by MedDRA code), or the "Other, specify" row of its class with
the old term as the specified term. Live rows and their history alike: nothing is lost,
and the move reverses."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError

from outcomes.ctcae import LEGACY_TERMS, SPECIFIED_TERM_MAX_LENGTH

SPECIFIED_TERM = models.CharField(
    blank=True,
    help_text="For an 'Other, specify' term only: the event's name in a few words, not a narrative.",
    max_length=SPECIFIED_TERM_MAX_LENGTH,
    validators=[django.core.validators.RegexValidator(
        "^[^\\W\\d_]+(?:[ \\-'/,().]+[^\\W\\d_]*)*$",
        "A term is a few words: letters, spaces and - ' / , ( ) only, no digits.",
    )],
    verbose_name="Specified term",
)
HELP = "Type a few letters of the term; its MedDRA code is stored."


def to_ctcae(apps, schema_editor):
    for name in ("AdverseEvent", "HistoricalAdverseEvent"):
        model = apps.get_model("outcomes", name)
        for old, (code, specified) in LEGACY_TERMS.items():
            model.objects.filter(term=old).update(ctcae_term_id=code, other_specify=specified)
        unmapped = model.objects.filter(ctcae_term__isnull=True)
        if unmapped.exists():
            terms = sorted(set(unmapped.values_list("term", flat=True)))
            raise ValueError(f"{name}: terms with no CTCAE v5.0 row: {terms}")


def from_ctcae(apps, schema_editor):
    for name in ("AdverseEvent", "HistoricalAdverseEvent"):
        model = apps.get_model("outcomes", name)
        for old, (code, specified) in LEGACY_TERMS.items():
            model.objects.filter(ctcae_term_id=code, other_specify=specified).update(term=old)
        newer = model.objects.filter(term="")
        if newer.exists():
            raise IrreversibleError(
                f"{name}: {newer.count()} adverse events have a CTCAE v5.0 term outside the old list of 36."
            )


class Migration(migrations.Migration):

    dependencies = [
        ("outcomes", "0003_missing_data_codes"),
    ]

    operations = [
        migrations.AddField(
            model_name="adverseevent",
            name="ctcae_term",
            field=models.ForeignKey(help_text=HELP, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="outcomes.ctcaeterm", verbose_name="CTCAE v5 term"),
        ),
        migrations.AddField(
            model_name="historicaladverseevent",
            name="ctcae_term",
            field=models.ForeignKey(blank=True, db_constraint=False, help_text=HELP, null=True,
                                    on_delete=django.db.models.deletion.DO_NOTHING, related_name="+",
                                    to="outcomes.ctcaeterm", verbose_name="CTCAE v5 term"),
        ),
        migrations.AddField(model_name="adverseevent", name="other_specify", field=SPECIFIED_TERM),
        migrations.AddField(model_name="historicaladverseevent", name="other_specify", field=SPECIFIED_TERM),
        # Reversed, the old column comes back empty before from_ctcae fills it.
        migrations.AlterField(
            model_name="adverseevent", name="term",
            field=models.CharField(max_length=40, default="", verbose_name="CTCAE v5 term"),
        ),
        migrations.AlterField(
            model_name="historicaladverseevent", name="term",
            field=models.CharField(max_length=40, default="", verbose_name="CTCAE v5 term"),
        ),
        migrations.RunPython(to_ctcae, from_ctcae),
        migrations.RemoveField(model_name="adverseevent", name="term"),
        migrations.RemoveField(model_name="historicaladverseevent", name="term"),
        migrations.AlterField(
            model_name="adverseevent",
            name="ctcae_term",
            field=models.ForeignKey(help_text=HELP, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="outcomes.ctcaeterm", verbose_name="CTCAE v5 term"),
        ),
    ]
