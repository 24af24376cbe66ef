from __future__ import annotations

import pytest

from basis.core.spreadsheets import safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_text_gets_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", "a=b", -5, 1.5, None])
def test_other_values_are_kept(value: object) -> None:
    assert safe_cell(value) == value
