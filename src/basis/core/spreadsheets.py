"""Cells for files that people open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or
a carriage return) as a formula: text that users or visitors typed (a name, a comment, a login's
User-Agent) would run in the clerk's spreadsheet (CSV injection, OWASP). Such text gets a
leading apostrophe, which spreadsheets show as text and do not display.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula.
    Numbers stay numbers: ``-5`` is a quantity, not a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
