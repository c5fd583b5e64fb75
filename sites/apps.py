from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SitesConfig(AppConfig):
    name = "sites"
    verbose_name = _("Centers and roles")

    def ready(self) -> None:
        # After every migrate and every flush (which empties auth_group), as Django makes its
        # permissions: a data migration runs once, and `flush` then `seed_demo` found no roles.
        post_migrate.connect(role_groups_create, sender=self, dispatch_uid="sites.role_groups_create")


def role_groups_create(*, using: str, apps=global_apps, **kwargs) -> None:
    """The study's roles as groups of the same name, created where missing (``apps``: the
    migration state after a migrate; a flush sends none)."""
    from sites.roles import Role

    group_model = apps.get_model("auth", "Group")
    for role in Role:
        group_model.objects.using(using).get_or_create(name=role.value)
