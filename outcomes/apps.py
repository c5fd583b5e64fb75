from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = _("Outcomes")

    def ready(self) -> None:
        # The data migration loads the CTCAE terms once; a flush (tests, `flush` before a
        # restore) empties the table and sends post_migrate: the terms come back then.
        post_migrate.connect(ctcae_terms_restore, sender=self, dispatch_uid="outcomes.ctcae_terms_restore")


def ctcae_terms_restore(*, using: str, apps=global_apps, **kwargs) -> None:
    """Load the shipped CTCAE v5.0 terms into an empty term table (``apps``: the migration
    state after a migrate, where the table may not exist yet; a flush sends none)."""
    from outcomes.ctcae import read_terms

    try:
        model = apps.get_model("outcomes", "CtcaeTerm")
    except LookupError:
        return
    if not model.objects.using(using).exists():
        model.objects.using(using).bulk_create([model(**row) for row in read_terms()])
