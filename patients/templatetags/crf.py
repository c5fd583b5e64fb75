"""Template helpers of the casebook pages: `{% load crf %}`."""

from django import template

register = template.Library()


@register.filter
def percent_of(part, whole) -> int:
    return round(100 * part / whole) if whole else 0


@register.filter
def get_item(mapping, key):
    """`mapping[key]`, or nothing: `{{ actions|get_item:section.key }}`."""
    return mapping.get(key, ()) if mapping else ()
