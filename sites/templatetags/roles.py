"""What the user's roles allow, for templates: `{% load roles %}`, then `{% if user|can_review_forms %}`.

Each filter is the capability check of `sites.roles` of the same name: templates ask the
same rule as the services and views."""

from django import template

from sites import roles

register = template.Library()

for _name in (
    "can_edit_clinical_data",
    "can_see_identifiers",
    "can_sign_casebook",
    "can_review_forms",
    "can_see_queries",
    "can_answer_queries",
    "can_see_monitoring_dashboard",
    "can_export_audit_trail",
    "can_run_analyses",
    "can_export_datasets",
    "can_read_export_log",
):
    register.filter(_name, getattr(roles, _name))


@register.filter
def role_names(user) -> str:
    return ", ".join(str(role.label) for role in roles.user_roles(user))
