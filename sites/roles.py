"""The study's roles and what each may do: every capability check of the project.

Roles are Django groups of the same name. Services, views, templates (the `roles`
template-tag library) and the API ask these functions, never a role directly, so that
who may do what is decided here and nowhere else.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COORDINATOR = "site_coordinator", _("Site coordinator")
    INVESTIGATOR = "site_investigator", _("Site investigator")
    MONITOR = "monitor", _("Monitor")
    STATISTICIAN = "statistician", _("Statistician")
    ADMINISTRATOR = "administrator", _("Administrator")


# Roles whose users see every center; the others see the centers they are members of.
ALL_CENTER_ROLES = frozenset({Role.MONITOR, Role.STATISTICIAN, Role.ADMINISTRATOR})
SITE_ROLES = frozenset({Role.COORDINATOR, Role.INVESTIGATOR})


def user_roles(user) -> frozenset[Role]:
    """The user's roles, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_study_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        if user.is_superuser:
            cached |= {Role.ADMINISTRATOR}
        user._study_roles = cached
    return cached


def has_role(user, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def has_any_role(user) -> bool:
    return bool(user_roles(user))


def sees_all_centers(user) -> bool:
    return bool(user_roles(user) & ALL_CENTER_ROLES)


# -- clinical data ------------------------------------------------------------------------


def can_edit_clinical_data(user) -> bool:
    """Coordinators and investigators enter data; monitors and statisticians do not."""
    return bool(user_roles(user) & SITE_ROLES)


def can_see_identifiers(user) -> bool:
    """Direct identifiers are for the staff who work with the hospital records."""
    return bool(user_roles(user) & (SITE_ROLES | {Role.MONITOR, Role.ADMINISTRATOR}))


def can_sign_casebook(user) -> bool:
    """The site investigator signs a complete casebook of their center."""
    return has_role(user, Role.INVESTIGATOR)


# -- data management ----------------------------------------------------------------------


def can_review_forms(user) -> bool:
    """Monitors verify, lock and unlock forms, raise and close queries, and run the checks."""
    return has_role(user, Role.MONITOR)


def can_see_queries(user) -> bool:
    """Queries quote the casebook: for the staff who see it whole (not statisticians)."""
    return can_see_identifiers(user)


def can_answer_queries(user) -> bool:
    """The site's staff answer queries (and correct the data, through the forms)."""
    return can_edit_clinical_data(user)


def can_see_monitoring_dashboard(user) -> bool:
    return has_role(user, Role.MONITOR, Role.ADMINISTRATOR)


def can_export_audit_trail(user) -> bool:
    return has_role(user, Role.MONITOR, Role.ADMINISTRATOR)


# -- analyses and exports -----------------------------------------------------------------


def can_run_analyses(user) -> bool:
    return has_role(user, Role.STATISTICIAN, Role.ADMINISTRATOR)


def can_export_datasets(user) -> bool:
    """Statisticians and administrators export de-identified datasets."""
    return can_run_analyses(user)


def can_read_export_log(user) -> bool:
    """Who exported what, when: for administrators."""
    return has_role(user, Role.ADMINISTRATOR)
