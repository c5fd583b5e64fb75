"""Template filters of the site's navigation (templates/base.html): `{% load navigation %}`.

The navigation links every app's pages, so it lives in the project, above the apps (which
import one way only, sites ← patients ← … ← analytics), and asks each app its own rule
rather than restating it."""

from django import template

from analytics.exports.services import can_export_datasets as exports_rule

register = template.Library()


@register.filter
def can_export_datasets(user) -> bool:
    return exports_rule(user)
