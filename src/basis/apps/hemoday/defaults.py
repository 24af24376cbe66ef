# ruff: noqa: RUF001 - the mobile app's names and units, Cyrillic and the multiplication sign as they are
"""The global lookup rows every family pulls, under the mobile app's own ids.

They live here rather than in a table: no push can change them (rule 11), and a family's rows
never take these ids. Their change time is fixed, so they come in a first pull only.
"""

from __future__ import annotations

from typing import Any

GLOBAL_TIME_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: created_at, updated_at and change time of every global row."""

GLOBAL_ROWS: dict[str, list[dict[str, Any]]] = {
    "component_types": [
        {"id": "comp_hb_01", "name": "Гемоглобин", "icon_name": "droplet", "sort_order": 1},
        {"id": "comp_fe_01", "name": "Ферритин", "icon_name": "flask-conical", "sort_order": 2},
        {"id": "comp_plt_01", "name": "Тромбоциты", "icon_name": "history", "sort_order": 3},
    ],
    "chelator_types": [
        {"id": "chel_none_01", "name": "Нет", "sort_order": 0},
        {"id": "chel_desf_01", "name": "Десферал", "sort_order": 1},
        {"id": "chel_exja_01", "name": "Эксиджад", "sort_order": 2},
        {"id": "chel_jade_01", "name": "Джадену", "sort_order": 3},
    ],
    "analysis_templates": [
        {"id": "tmpl_cbc_01", "name": "Общий анализ крови"},
        {"id": "tmpl_biochem_01", "name": "Биохимический анализ"},
    ],
    "analysis_template_items": [
        {"id": "tmpl_item_hb_01", "template_id": "tmpl_cbc_01", "name": "Гемоглобин", "unit": "g/l"},
        {"id": "tmpl_item_ery_01", "template_id": "tmpl_cbc_01", "name": "Эритроциты", "unit": "×10¹²/л"},
        {"id": "tmpl_item_leu_01", "template_id": "tmpl_cbc_01", "name": "Лейкоциты", "unit": "×10⁹/л"},
        {"id": "tmpl_item_plt_01", "template_id": "tmpl_cbc_01", "name": "Тромбоциты", "unit": "×10⁹/л"},
        {"id": "tmpl_item_fer_01", "template_id": "tmpl_biochem_01", "name": "Ферритин", "unit": "нг/мл"},
        {"id": "tmpl_item_alt_01", "template_id": "tmpl_biochem_01", "name": "АЛТ", "unit": "Ед/л"},
        {"id": "tmpl_item_ast_01", "template_id": "tmpl_biochem_01", "name": "АСТ", "unit": "Ед/л"},
        {
            "id": "tmpl_item_bil_01",
            "template_id": "tmpl_biochem_01",
            "name": "Билирубин общий",
            "unit": "мкмоль/л",
        },
    ],
}

GLOBAL_IDS: frozenset[str] = frozenset(row["id"] for rows in GLOBAL_ROWS.values() for row in rows)
WITH_DEFAULT_FLAG = frozenset({"component_types", "chelator_types", "analysis_templates"})


def pulled_global_rows(table: str) -> list[dict[str, Any]]:
    """The table's global rows as a pull sends them."""
    flag = {"is_default": True} if table in WITH_DEFAULT_FLAG else {}
    return [
        {**row, **flag, "created_at": GLOBAL_TIME_MS, "updated_at": GLOBAL_TIME_MS}
        for row in GLOBAL_ROWS.get(table, [])
    ]
