"""Storefront search: what a shopper types (苹果, pingguo, pg, a SKU, a producer or a township) finds the
product with one indexed-text query, not a Python scan.

Each product keeps a precomputed ``search_key``: its names and its variants' names and SKUs, its producer
and township, in Chinese, English, full pinyin (with and without spaces) and pinyin initials, all lower
case. The back-office use cases and the demo seed call ``refresh_search_keys`` after they change a
product, a variant or a producer; ``flask --app shop catalog reindex`` rebuilds every key.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select

from shop.catalog.models import Producer, Product
from shop.core.db import db

SEPARATOR = " | "


def _pinyin_forms(text: str) -> list[str]:
    """``苹果`` -> ["pingguo", "ping guo", "pg"]; text without Chinese gives nothing extra."""
    if not text or all(ord(ch) < 128 for ch in text):
        return []
    # why: pypinyin's dictionaries take about 55 MB; only a process that computes a key loads them
    from pypinyin import lazy_pinyin

    syllables = [s for s in lazy_pinyin(text, errors="ignore") if s.strip()]
    if not syllables:
        return []
    initials = "".join(s[0] for s in syllables)
    return ["".join(syllables), " ".join(syllables), initials]


def normalise(text: str) -> str:
    """The form both keys and queries are compared in: lower case, single spaces."""
    return " ".join((text or "").lower().split())


def search_key(product: Product) -> str:
    """The text ``product`` is found by (see the module docstring)."""
    producer = product.producer
    parts: list[str] = []
    chinese = [product.name_zh, product.origin_mark]
    chinese += [v.name_zh for v in product.variants]
    if producer is not None:
        chinese += [producer.name_zh, producer.township, producer.village or ""]
    for text in chinese:
        if text:
            parts.append(text)
            parts.extend(_pinyin_forms(text))
    parts += [product.name_en, product.slug]
    parts += [v.name_en for v in product.variants] + [v.sku for v in product.variants]
    if producer is not None:
        parts += [producer.name_en, producer.township_en or "", producer.legal_name or ""]
    return SEPARATOR.join(normalise(p) for p in parts if p and p.strip())


def refresh_search_keys(product_ids: Iterable[int] | None = None, *, producer_id: int | None = None) -> int:
    """Recompute the search key of the given products (or a producer's, or every product); flush only."""
    db.session.flush()
    # Reload the rows and their variants: a variant added by product_id is not in a loaded collection.
    stmt = select(Product).execution_options(populate_existing=True)
    if product_ids is not None:
        ids = list(product_ids)
        if not ids:
            return 0
        stmt = stmt.where(Product.id.in_(ids))
    if producer_id is not None:
        stmt = stmt.where(Product.producer_id == producer_id)
    count = 0
    for product in db.session.scalars(stmt):
        key = search_key(product)
        if product.search_key != key:
            product.search_key = key
        count += 1
    db.session.flush()
    return count


def matches(q: str):
    """The WHERE clause for a shopper's query: the precomputed key, plus the live names as a fallback for
    rows written before their key (a product saved by a path that forgot to refresh it is still found by
    its Chinese or English name). Needs ``Producer`` joined."""
    needle = normalise(q)
    squeezed = needle.replace(" ", "")
    pattern = f"%{_escape(needle)}%"
    clauses = [
        Product.search_key.like(pattern, escape="\\"),
        func.lower(Product.name_zh).like(pattern, escape="\\"),
        func.lower(Product.name_en).like(pattern, escape="\\"),
        func.lower(Producer.name_zh).like(pattern, escape="\\"),
        func.lower(Producer.name_en).like(pattern, escape="\\"),
    ]
    if squeezed != needle:  # "ping guo" also finds the run-together "pingguo"
        clauses.append(Product.search_key.like(f"%{_escape(squeezed)}%", escape="\\"))
    return or_(*clauses)


def _escape(text: str) -> str:
    """A shopper's ``%`` or ``_`` is a character to find, not a wildcard."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def suggestions(limit: int = 6) -> list[str]:
    """What to suggest when a search finds nothing: the names of the newest active products."""
    rows = db.session.scalars(
        select(Product.name_zh).where(Product.active.is_(True)).order_by(Product.id.desc()).limit(limit)
    )
    return list(rows)
