"""Gangu County's townships (乡镇), the list producers are registered against.

The county's administrative list (15 towns and 1 township); a producer's township must be one of these so
the aid totals by township add up. Villages are free text (the county's list of some four hundred
villages is not kept here); the back office suggests the villages already used in each township.
If the county redraws its divisions, edit this list (and migrate producers that moved).
"""

from __future__ import annotations

# (Chinese name as the county writes it, English name used on English pages and in reports)
GANGU_TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("大像山镇", "Daxiangshan"),
    ("新兴镇", "Xinxing"),
    ("渭阳镇", "Weiyang"),
    ("白家湾镇", "Baijiawan"),
    ("六峰镇", "Liufeng"),
    ("安远镇", "Anyuan"),
    ("金山镇", "Jinshan"),
    ("大石镇", "Dashi"),
    ("礼辛镇", "Lixin"),
    ("磐安镇", "Pan'an"),
    ("古坡镇", "Gupo"),
    ("西坪镇", "Xiping"),
    ("武家河镇", "Wujiahe"),
    ("大庄镇", "Dazhuang"),
    ("八里湾镇", "Baliwan"),
    ("谢家湾乡", "Xiejiawan"),
)


def find_township(name: str) -> tuple[str, str] | None:
    """The township called ``name`` (Chinese or English, case-insensitive), or None."""
    wanted = (name or "").strip()
    for zh, en in GANGU_TOWNSHIPS:
        if wanted == zh or wanted.lower() == en.lower():
            return zh, en
    return None
