"""URL converters of the casebook pages."""

from __future__ import annotations

from patients.models import STUDY_ID_PATTERN


class StudyIdConverter:
    """A study ID in a URL. Anything else (a NUL byte no database could hold, a stray path)
    names no casebook and is 404 before any view or query runs."""

    regex = STUDY_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
