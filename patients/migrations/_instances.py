"""Adding the stored instance number of the rows of repeating parts (`repeat_instance`) to
tables that already hold rows: the column is added empty, each row is numbered by creation
(its rank by primary key among every row of its part for the patient, deleted rows included:
the numbers the registry gave them until then), its history rows take the row's number, and
the column becomes required and unique per patient."""

from django.db import migrations, models

FIELD = "repeat_instance"


def _numbered(app_label: str, model_names: list[str]):
    def forward(apps, schema_editor):
        quote = schema_editor.quote_name
        for model_name in model_names:
            table = quote(apps.get_model(app_label, model_name)._meta.db_table)
            history = quote(apps.get_model(app_label, f"Historical{model_name}")._meta.db_table)
            schema_editor.execute(
                f"UPDATE {table} SET {FIELD} = numbered.n FROM (SELECT id, ROW_NUMBER() OVER "  # noqa: S608
                f"(PARTITION BY patient_id ORDER BY id) AS n FROM {table}) AS numbered WHERE {table}.id = numbered.id")
            schema_editor.execute(
                f"UPDATE {history} SET {FIELD} = current.{FIELD} FROM {table} AS current "  # noqa: S608
                f"WHERE {history}.id = current.id")

    return migrations.RunPython(forward, migrations.RunPython.noop)


def repeat_instances_added(app_label: str, model_names: list[str]) -> list:
    """The operations that add `repeat_instance` to the models (and their history models)
    and number their stored rows."""
    def field(*, null: bool) -> models.PositiveIntegerField:
        return models.PositiveIntegerField(editable=False, null=null, verbose_name="instance")

    names = [*model_names, *(f"Historical{name}" for name in model_names)]
    return [
        *(migrations.AddField(model_name=name.lower(), name=FIELD, field=field(null=True)) for name in names),
        _numbered(app_label, model_names),
        *(migrations.AlterField(model_name=name.lower(), name=FIELD, field=field(null=False)) for name in names),
        *(migrations.AddConstraint(model_name=name.lower(), constraint=models.UniqueConstraint(
            fields=["patient", FIELD], name=f"{app_label}_{name.lower()}_unique_instance")) for name in model_names),
    ]
