"""The API's JSON parser: what DRF's parser gives, but a body that is valid JSON and still no
value of ours (nested beyond any form's shape, or a string no database or answer can encode)
is refused as a parse error (400) before a view, a serializer or a renderer sees it."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No body of the API nests deeper than a few levels; this leaves room and bounds the walk.
MAX_DEPTH = 32


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the body is nested too deeply.")) from None
        _check(data)
        return data


def _check(data) -> None:
    """Refuse nesting beyond MAX_DEPTH and strings (values or keys) that are not valid
    Unicode text, such as a lone surrogate ("\\ud800"). Iterative: no recursion to exhaust."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ParseError(_("JSON parse error - the body is nested too deeply."))
            items = value.items() if isinstance(value, dict) else ((None, item) for item in value)
            for key, item in items:
                if key is not None:
                    _check_text(key)
                pending.append((item, depth + 1))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(_("JSON parse error - a string holds a character that is not valid Unicode text.")) from None
