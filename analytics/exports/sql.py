"""SQL the exports have the database compute.

Date arithmetic, on PostgreSQL and on SQLite alike: Django has no portable "days between two
dates" or "whole years between two dates"; these two functions give the same integers on
both backends (NULL when either date is NULL). And the text of a row (a CSV line, a JSON
object) written by the database in one expression (``TextSQL``).
"""

from __future__ import annotations

import re

from django.db.models import Func, IntegerField


class DaysBetween(Func):
    """Whole days from `earlier` to `later` (negative when `later` comes first)."""

    arity = 2
    output_field = IntegerField()

    def __init__(self, later, earlier, **extra):
        super().__init__(later, earlier, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        # date - date is an integer number of days in PostgreSQL.
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="CAST(julianday(%(expressions)s) AS INTEGER)",
                           arg_joiner=") - julianday(", **extra_context)


class WholeYearsBetween(Func):
    """Completed years from `earlier` to `later`: an age, one less until the birthday."""

    arity = 2
    output_field = IntegerField()

    def __init__(self, earlier, later, **extra):
        super().__init__(earlier, later, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        earlier, later = (compiler.compile(expression) for expression in self.source_expressions)
        sql = f"CAST(EXTRACT(YEAR FROM AGE({later[0]}, {earlier[0]})) AS INTEGER)"
        return sql, (*later[1], *earlier[1])

    def as_sqlite(self, compiler, connection, **extra_context):
        (earlier, earlier_params), (later, later_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        # Dates are 'YYYY-MM-DD' text in SQLite: year difference, less one before the birthday.
        sql = (f"(CAST(substr({later}, 1, 4) AS INTEGER) - CAST(substr({earlier}, 1, 4) AS INTEGER)"
               f" - (substr({later}, 6, 5) < substr({earlier}, 6, 5)))")
        return sql, (*later_params, *earlier_params, *later_params, *earlier_params)


class TextSQL:
    """The SQL of a text made of constants and SQL expressions: adjacent constants are one
    literal, quoted here (a ``%`` doubled, as the queries take parameters); an expression is
    taken as text, NULL adding nothing.

    The pieces are joined by ``||`` two by two, then the pairs two by two, and so on: each
    piece is copied once per level (``a || b || c`` would copy the text made so far at each
    step), and a text is not converted, where concat() would pass each piece, a text included,
    through its type's output function and measure it again (the REDCap export's lines, a
    million rows of a hundred pieces, are made measurably quicker)."""

    def __init__(self):
        self._pieces: list[str] = []
        self._constant: list[str] = []

    def constant(self, text: str) -> TextSQL:
        self._constant.append(text)
        return self

    def expression(self, sql: str) -> TextSQL:
        self._close_constant()
        self._pieces.append(f"COALESCE(CAST({sql} AS text), '')")
        return self

    def _close_constant(self) -> None:
        if self._constant:
            text = "".join(self._constant).replace("'", "''").replace("%", "%%")
            self._pieces.append(f"'{text}'")
            self._constant = []

    @property
    def sql(self) -> str:
        self._close_constant()
        pieces = self._pieces or ["''"]
        while len(pieces) > 1:
            pieces = [pieces[start] if start + 1 == len(pieces) else f"({pieces[start]} || {pieces[start + 1]})"
                      for start in range(0, len(pieces), 2)]
        return pieces[0]


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what a JSON string escapes


def json_plain(texts) -> bool:
    """Whether each of the texts (None: any text) is its JSON string's content as it is: no
    quote, backslash or control character to escape. The texts are searched as one (a
    record ID list holds as many texts as the export has records)."""
    return texts is not None and not _JSON_ESCAPED.search("".join(texts))


SORT_MEMORY = "128MB"  # PostgreSQL's memory for an export's sorts (work_mem), its transaction only


def export_settings(cursor, *, sorts_in_memory: bool = False) -> None:
    """PostgreSQL's settings for the rest of an export's transaction: dates as YYYY-MM-DD text;
    no JIT (the queries have hundreds of expressions: compiling them costs more than it
    saves); `sorts_in_memory`, the memory to sort rows as wide as JSON objects or CSV lines
    without going to disk (only for the queries that sort such rows: it made the other
    exports' plans slower)."""
    cursor.execute("SET LOCAL datestyle = 'ISO, YMD'")
    cursor.execute("SET LOCAL jit = off")
    if sorts_in_memory:
        cursor.execute("SET LOCAL work_mem = %s", [SORT_MEMORY])
