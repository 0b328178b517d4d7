"""Producers in the back office: onboard, edit, deactivate; their aid certificates and the scans kept
with them; certificates about to expire."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.audit.services import record
from shop.backoffice import checks
from shop.backoffice.checks import Problems
from shop.backoffice.errors import CertificateDocumentMissing, ProducerCodeTaken, ProducerNotFoundByCode
from shop.backoffice.models import CertificateDocument
from shop.catalog import cache
from shop.catalog.errors import CertificateNotFound
from shop.catalog.models import AidCertificate, Producer, Product
from shop.catalog.search import refresh_search_keys
from shop.catalog.townships import find_township
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import after_commit, db
from shop.media import images
from shop.media.errors import EmptyUpload, NotADocument, NotAnImage
from shop.media.storage import get_store
from shop.producers.fees import set_fee

PRODUCER_KINDS = ("cooperative", "company", "leading_enterprise")
EXPIRY_NOTICE_DAYS = 30
# Everything a producer record holds that the back office edits: field -> maximum length (text) or None.
TEXT_FIELDS = {
    "name": ("name_zh", 120),
    "name_en": ("name_en", 160),
    "legal_name": ("legal_name", 200),
    "village": ("village", 60),
    "benefit_mechanism": ("benefit_mechanism_zh", 2000),
    "benefit_mechanism_en": ("benefit_mechanism_en", 2000),
    "story": ("story_zh", 4000),
    "story_en": ("story_en", 4000),
}
COUNT_FIELDS = {"linked_households": "linked_households", "linked_people": "linked_people"}


def get_producer_by_code(code: str) -> Producer:
    producer = db.session.scalar(select(Producer).where(Producer.code == code))
    if producer is None:
        raise ProducerNotFoundByCode(f"producer {code!r} does not exist")
    return producer


def _catalogue_changed() -> None:
    """This process's catalogue cache forgets now; others within CATALOGUE_CACHE_SECONDS."""
    after_commit(cache.clear)


def _check_fields(p: Problems, data: dict, *, creating: bool) -> dict:
    """Validate the editable fields present in ``data``; return model attribute -> value."""
    values: dict = {}
    for field, (attr, max_len) in TEXT_FIELDS.items():
        if field in data or (creating and field == "name"):
            values[attr] = p.text(field, data.get(field), max_len=max_len, required=field == "name")
    for field, attr in COUNT_FIELDS.items():
        if field in data:
            values[attr] = p.count(field, data[field])
    if "kind" in data:
        values["kind"] = p.choice("kind", data["kind"], PRODUCER_KINDS)
    if "township" in data or creating:
        found = find_township(data.get("township") or "")
        if found is None:
            p.add("township", checks.REQUIRED if not data.get("township") else checks.NOT_A_TOWNSHIP)
        else:
            values["township"], values["township_en"] = found
    if "fee_bp" in data:
        fee = data["fee_bp"]
        if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= 10_000:
            p.add("fee_bp", checks.OUT_OF_RANGE)
        else:
            values["fee_bp"] = fee
    return values


def create_producer(*, code: str, actor=None, **data) -> Producer:
    """Onboard a producer; a code already taken is a 409 naming it."""
    p = Problems()
    code = p.pattern("code", code, checks.PRODUCER_CODE, checks.BAD_PRODUCER_CODE)
    data.setdefault("kind", "cooperative")
    values = _check_fields(p, data, creating=True)
    p.raise_if_any()
    if db.session.scalar(select(Producer.id).where(Producer.code == code)) is not None:
        raise _code_taken(code)
    values.setdefault("name_en", "")
    values["name_en"] = values["name_en"] or values["name_zh"]
    values.setdefault("legal_name", "")
    values["legal_name"] = values["legal_name"] or values["name_zh"]
    producer = Producer(code=code, **values)
    try:
        with db.session.begin_nested():  # a concurrent onboarding of the same code ends here
            db.session.add(producer)
            db.session.flush()
    except IntegrityError:
        raise _code_taken(code) from None
    if producer.fee_bp:
        set_fee(producer, producer.fee_bp, actor=actor)  # the fee history's first row
    record(actor, "producer.create", target_type="producer", target_id=code, **_audit_values(values))
    _catalogue_changed()
    return producer


def _code_taken(code: str) -> ProducerCodeTaken:
    return ProducerCodeTaken(
        f"producer code {code!r} is already taken",
        errors=[{"field": "code", "message": checks.ALREADY_TAKEN}],
    )


def _audit_values(values: dict) -> dict:
    return {k: v for k, v in values.items() if k not in ("story_zh", "story_en")}


def update_producer(code: str, *, actor=None, **data) -> Producer:
    """Change a producer's details (and ``fee_bp``, ``active``); audited with the values before."""
    producer = get_producer_by_code(code)
    p = Problems()
    values = _check_fields(p, data, creating=False)
    if "active" in data and not isinstance(data["active"], bool):
        p.add("active", checks.REQUIRED)
    p.raise_if_any()
    before = {k: getattr(producer, k) for k in values}
    new_fee = values.pop("fee_bp", None)
    for attr, value in values.items():
        setattr(producer, attr, value)
    if new_fee is not None and new_fee != before["fee_bp"]:
        set_fee(producer, new_fee, actor=actor)  # kept in the fee history; fee_bp mirrors it
    if new_fee is not None:
        values["fee_bp"] = new_fee
    if "active" in data and data["active"] != producer.active:
        set_producer_active(producer, data["active"], actor=actor)
    db.session.flush()
    refresh_search_keys(producer_id=producer.id)
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        record(
            actor,
            "producer.update",
            target_type="producer",
            target_id=code,
            before={k: before[k] for k in changed},
            after=changed,
        )
    _catalogue_changed()
    return producer


def set_producer_active(producer: Producer, active: bool, *, actor=None) -> int:
    """Deactivate (its products go off sale, orders already placed are untouched) or reactivate (its
    products stay off sale until someone puts each back); return how many products went off sale."""
    producer.active = active
    taken_off = 0
    if not active:
        taken_off = db.session.execute(
            update(Product)
            .where(Product.producer_id == producer.id, Product.active.is_(True))
            .values(active=False)
        ).rowcount
    db.session.flush()
    record(
        actor,
        "producer.activate" if active else "producer.deactivate",
        target_type="producer",
        target_id=producer.code,
        products_taken_off_sale=taken_off,
    )
    _catalogue_changed()
    return taken_off


def list_producers(*, page: int = 1, per_page: int = 50, q: str | None = None, active: bool | None = None):
    stmt = select(Producer).order_by(Producer.active.desc(), Producer.township, Producer.id)
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Producer.code).like(pattern),
                func.lower(Producer.name_zh).like(pattern),
                func.lower(Producer.name_en).like(pattern),
            )
        )
    if active is not None:
        stmt = stmt.where(Producer.active.is_(active))
    return page_of(stmt, page=page, per_page=per_page)


def villages_by_township() -> dict[str, list[str]]:
    """The villages already used in each township (suggestions for the next producer)."""
    rows = db.session.execute(
        select(Producer.township, Producer.village).where(Producer.village != "").distinct()
    )
    out: dict[str, list[str]] = {}
    for township, village in rows:
        out.setdefault(township, []).append(village)
    return {k: sorted(v) for k, v in out.items()}


def products_of(producer: Producer) -> list[Product]:
    return list(
        db.session.scalars(select(Product).where(Product.producer_id == producer.id).order_by(Product.id))
    )


# -- certificates ------------------------------------------------------------------------------------


def get_certificate(number: str) -> AidCertificate:
    cert = db.session.scalar(select(AidCertificate).where(AidCertificate.number == number))
    if cert is None:
        raise CertificateNotFound(f"no certificate {number}")
    return cert


def expiring_certificates(*, within_days: int = EXPIRY_NOTICE_DAYS, on: date | None = None):
    """Certificates in force today that end within ``within_days`` days, soonest first, with whether the
    producer already has a newer one registered (then nothing needs doing)."""
    today = on or clock.today()
    rows = list(
        db.session.scalars(
            select(AidCertificate)
            .where(
                AidCertificate.revoked.is_(False),
                AidCertificate.valid_from <= today,
                AidCertificate.valid_until >= today,
                AidCertificate.valid_until <= today + timedelta(days=within_days),
            )
            .order_by(AidCertificate.valid_until, AidCertificate.id)
        )
    )
    out = []
    for cert in rows:
        renewed = any(
            c.id != cert.id and not c.revoked and c.valid_until > cert.valid_until
            for c in cert.producer.certificates
        )
        out.append({"certificate": cert, "days_left": (cert.valid_until - today).days, "renewed": renewed})
    return out


_PDF_HEAD = re.compile(rb"%PDF-[12]\.\d")


def _document_type(data: bytes, max_pixels: int) -> tuple[str, str]:
    """(content type, file extension) of a certificate scan, judged by its content."""
    if not data:
        raise EmptyUpload("the file is empty", errors=[{"field": "file", "message": "empty file"}])
    if _PDF_HEAD.match(data[:16]):
        if b"%%EOF" not in data[-2048:]:
            raise NotADocument(
                "the PDF is incomplete", errors=[{"field": "file", "message": "incomplete PDF"}]
            )
        return "application/pdf", "pdf"
    try:
        found = images.inspect_image(data, max_pixels=max_pixels)
    except NotAnImage:
        raise NotADocument(
            "the file is not a PDF, JPEG, PNG or WebP file",
            errors=[{"field": "file", "message": "not a PDF or image"}],
        ) from None
    return found.content_type, {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[found.format]


def attach_certificate_document(
    number: str, data: bytes, *, max_pixels: int, actor=None
) -> CertificateDocument:
    """Keep the scanned certificate (PDF or image) with it, replacing an earlier scan."""
    cert = get_certificate(number)
    content_type, ext = _document_type(data, max_pixels)
    key = f"certificates/{uuid.uuid4().hex}.{ext}"
    store = get_store()
    store.put(key, data, content_type=content_type)
    doc = db.session.scalar(select(CertificateDocument).where(CertificateDocument.certificate_id == cert.id))
    old_key = None
    if doc is None:
        doc = CertificateDocument(certificate_id=cert.id)
        db.session.add(doc)
    else:
        old_key = doc.key
    doc.key, doc.content_type, doc.size_bytes = key, content_type, len(data)
    doc.uploaded_by_id = getattr(actor, "id", None)
    doc.uploaded_at = clock.now()
    db.session.flush()
    if old_key:
        after_commit(lambda: store.delete(old_key))
    record(
        actor,
        "certificate.document",
        target_type="producer",
        target_id=cert.producer.code,
        number=number,
        content_type=content_type,
        bytes=len(data),
    )
    return doc


def document_of(cert: AidCertificate) -> CertificateDocument | None:
    return db.session.scalar(select(CertificateDocument).where(CertificateDocument.certificate_id == cert.id))


def read_certificate_document(number: str) -> tuple[bytes, str, str]:
    """(content, content type, extension) of a certificate's scan."""
    cert = get_certificate(number)
    doc = document_of(cert)
    if doc is None:
        raise CertificateDocumentMissing(f"certificate {number} has no scanned document")
    return get_store().get(doc.key), doc.content_type, doc.key.rsplit(".", 1)[-1]
