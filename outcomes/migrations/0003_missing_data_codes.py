from django.db import migrations, models

from patients.migrations._nullable import nulls_back

MODELS = ("adverseevent", "followup", "responseassessment", "vodsosevent")
YES_NO = {"adverseevent": ("serious", "Serious?"), "followup": ("relapsed", "Relapse after response?"),
          "vodsosevent": ("defibrotide", "Defibrotide given?")}


class Migration(migrations.Migration):

    dependencies = [
        ("outcomes", "0002_ctcae_terms"),
    ]

    operations = [
        *(migrations.AddField(
            model_name=prefix + model,
            name="missing_codes",
            field=models.JSONField(blank=True, default=dict, editable=False, verbose_name="missing-data codes"),
        ) for model in MODELS for prefix in ("", "historical")),
        *(migrations.AlterField(
            model_name=prefix + model,
            name=name,
            field=models.BooleanField(null=True, verbose_name=label),
        ) for model, (name, label) in YES_NO.items() for prefix in ("", "historical")),
        nulls_back("outcomes", {model: {name: False} for model, (name, _label) in YES_NO.items()}),
    ]
