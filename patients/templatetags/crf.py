"""Template helpers of the casebook pages: what the user's roles allow."""

from django import template

from sites import roles

register = template.Library()


@register.filter
def can_edit_clinical_data(user) -> bool:
    return roles.can_edit_clinical_data(user)


@register.filter
def can_run_analyses(user) -> bool:
    return roles.can_run_analyses(user)


@register.filter
def role_names(user) -> str:
    return ", ".join(str(role.label) for role in roles.user_roles(user))


@register.filter
def percent_of(part, whole) -> int:
    return round(100 * part / whole) if whole else 0

