from pathlib import Path

from babel.messages.pofile import read_po

PO = Path(__file__).resolve().parents[2] / "shop" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def test_every_page_string_has_a_chinese_translation():
    """Chinese first: no UI string may fall back to English on Chinese pages."""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh")
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


def test_compiled_catalogue_is_current():
    """The committed .mo carries every translation of the .po (run `make translations` after editing)."""
    from babel.support import Translations

    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh")
    with PO.with_suffix(".mo").open("rb") as f:
        compiled = Translations(f)
    stale = [m.id for m in catalog if m.id and isinstance(m.id, str) and compiled.gettext(m.id) != m.string]
    assert stale == []
