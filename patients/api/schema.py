"""The OpenAPI schema: every operation documents the JSON errors it may answer."""

from __future__ import annotations

ERROR_RESPONSES = {
    "400": "Invalid input: a map of field → messages (or `non_field_errors`).",
    "401": "Not authenticated.",
    "403": "Not allowed (role, locked form).",
    "404": "Not found, or not in a center you may see.",
    "405": "Method not allowed.",
    "406": "Not acceptable (Accept header).",
    "415": "Unsupported media type (request body).",
    "409": "Stale version or conflicting change: `version` and `current` give the row as saved now.",
}


def schema_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the JSON errors it may answer."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {"type": "object", "additionalProperties": True,
                        "description": "`detail`, or field name → list of messages."}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in ERROR_RESPONSES.items():
                operation["responses"].setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result
