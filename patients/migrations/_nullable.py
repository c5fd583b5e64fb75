"""Reversing a migration that made required columns nullable, for questions that can now be
answered with a missing-data code (a NULL value). Going back, a yes/no question left
unanswered or coded becomes "no", its old default; any other NULL cannot be given a value,
so the reversal stops and says which rows hold one."""

from django.db import migrations
from django.db.migrations.exceptions import IrreversibleError


def nulls_back(app_label: str, columns: dict[str, dict[str, object]]) -> migrations.RunPython:
    """A RunPython that does nothing forward and, backward, fills `columns`
    ({model name: {field: value, or None where no value can be invented}})."""

    def backward(apps, schema_editor):
        for model_name, fields in columns.items():
            for historical in (False, True):
                model = apps.get_model(app_label, ("historical" if historical else "") + model_name)
                for field_name, fill in fields.items():
                    rows = model.objects.filter(**{f"{field_name}__isnull": True})
                    if fill is None:
                        if rows.exists():
                            raise IrreversibleError(
                                f"{model.__name__}.{field_name}: {rows.count()} rows hold a missing-data code "
                                "instead of a value; the old schema cannot store them."
                            )
                    else:
                        rows.update(**{field_name: fill})

    return migrations.RunPython(migrations.RunPython.noop, backward)
