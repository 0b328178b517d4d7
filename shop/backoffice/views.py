"""The back-office pages under /admin (office PCs and tablets, Chinese first): producers with their
certificates, products with variants, prices and photos, locations with their operators, programmes.

Thin: each form is read (``forms``), handed to one use case in one unit of work, and either redirects
with a message or shows the form again with each refusal next to its field, in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from shop.accounts.auth import require_staff_page
from shop.aid import programmes
from shop.aid.models import CHANNELS, AidProgramme
from shop.aid.reports import CHANNEL_NAMES
from shop.backoffice import forms, locations, producers, products
from shop.backoffice.api import document_response
from shop.backoffice.forms import FormErrors
from shop.catalog.models import Location, Producer, Product
from shop.catalog.services import add_certificate
from shop.catalog.townships import GANGU_TOWNSHIPS
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.core.inputs import accepts_upload
from shop.core.web import localized
from shop.media import services as media
from shop.media.models import ProductImage

bp = Blueprint("backoffice", __name__, url_prefix="/admin")
ADMIN = ("admin",)
OFFICERS = ("admin", "aid_officer")
PER_PAGE = 50

PRODUCER_KINDS = {
    "cooperative": _l("Cooperative"),
    "company": _l("Company"),
    "leading_enterprise": _l("Leading enterprise"),
}
LOCATION_KINDS = {
    "hall": _l("Exhibition hall"),
    "fair": _l("Fair booth"),
    "warehouse": _l("Warehouse"),
    "fulfilment": _l("Fulfilment centre"),
}
TOWNSHIP_OPTIONS = [(zh, f"{zh} · {en}") for zh, en in GANGU_TOWNSHIPS]
IMAGE_STATUSES = {"pending": _l("Being prepared"), "ready": _l("Ready"), "failed": _l("Could not be read")}


@bp.app_context_processor
def _labels():
    return {
        "producer_kinds": PRODUCER_KINDS,
        "location_kinds": LOCATION_KINDS,
        "image_statuses": IMAGE_STATUSES,
    }


def _settings():
    return current_app.extensions["settings"]


def _run(work: Callable[[], Any], errors: FormErrors) -> Any | None:
    """Run one use case in one unit of work; a refusal goes next to its fields and gives None."""
    try:
        with atomic():
            return work()
    except ShopError as err:
        errors.from_error(err)
        if "general" not in errors:
            errors["general"] = _("Please correct the fields marked below.")
        return None


def _form_page(template: str, errors: FormErrors, **context):
    return render_template(template, errors=errors, form=request.form, **context), 422 if errors else 200


def _people_url() -> str | None:
    """The People page (staff invitations) once it exists: a slot in the back office's navigation."""
    return url_for("people_web.index") if "people_web.index" in current_app.view_functions else None


SECTIONS = {
    "producer": "producers",
    "certificate": "producers",
    "product": "products",
    "variant": "products",
    "image": "products",
    "category": "products",
    "location": "locations",
    "operator": "locations",
    "programme": "programmes",
}


def _section() -> str:
    """Which tab of the back office the current page belongs to."""
    endpoint = (request.endpoint or "").removeprefix("backoffice.")
    return SECTIONS.get(endpoint.split("_", 1)[0], "home")


@bp.app_context_processor
def _nav():
    return {"people_url": _people_url, "bo_section": _section}


# -- home ------------------------------------------------------------------------------------------


@bp.get("/")
@require_staff_page(*OFFICERS)
def home():
    counts = {
        "producers": db.session.scalar(select(func.count()).where(Producer.active.is_(True))),
        "products": db.session.scalar(select(func.count()).where(Product.active.is_(True))),
        "locations": db.session.scalar(select(func.count()).where(Location.kind != "transit")),
        "programmes": db.session.scalar(select(func.count()).select_from(AidProgramme)),
    }
    images = dict(
        db.session.execute(
            select(ProductImage.status, func.count())
            .where(ProductImage.status != "ready")
            .group_by(ProductImage.status)
        ).all()
    )
    return render_template(
        "backoffice/home.html",
        counts=counts,
        expiring=producers.expiring_certificates(),
        images=images,
        notice_days=producers.EXPIRY_NOTICE_DAYS,
    )


# -- producers and certificates --------------------------------------------------------------------


def _producer_data(form) -> tuple[dict, FormErrors]:
    errors = FormErrors()
    data: dict = {f: forms.text(form, f) for f in producers.TEXT_FIELDS}
    data["township"] = forms.text(form, "township")
    data["kind"] = forms.text(form, "kind")
    for field in producers.COUNT_FIELDS:
        data[field] = forms.whole_number(form.get(field), field, errors)
    percent = forms.text(form, "fee_percent")
    if percent:
        try:
            data["fee_bp"] = round(float(percent) * 100)
        except ValueError:
            errors.add("fee_percent", "out of range")
    return data, errors


@bp.get("/producers")
@require_staff_page(*OFFICERS)
def producer_list():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    q = (request.args.get("q") or "").strip()[:100] or None
    rows, total = producers.list_producers(page=page, per_page=PER_PAGE, q=q)
    return render_template(
        "backoffice/producers.html",
        producers=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        q=q or "",
        today=clock.today(),
    )


@bp.route("/producers/new", methods=["GET", "POST"])
@require_staff_page(*ADMIN)
def producer_new():
    errors = FormErrors()
    if request.method == "POST":
        data, errors = _producer_data(request.form)
        code = forms.text(request.form, "code")
        result = _run(lambda: producers.create_producer(code=code, actor=current_user, **data).code, errors)
        if result:
            flash(_("Producer %(code)s is registered.", code=result), "ok")
            return redirect(url_for("backoffice.producer_edit", code=result))
    return _form_page(
        "backoffice/producer_form.html",
        errors,
        producer=None,
        township_options=TOWNSHIP_OPTIONS,
        villages=producers.villages_by_township(),
    )


@bp.route("/producers/<code>", methods=["GET", "POST"])
@require_staff_page(*OFFICERS)
def producer_edit(code: str):
    producer = producers.get_producer_by_code(code)
    errors = FormErrors()
    if request.method == "POST":
        if current_user.role != "admin":
            flash(_("Only an administrator may change a producer."), "error")
            return redirect(url_for("backoffice.producer_edit", code=code))
        data, errors = _producer_data(request.form)
        if _run(lambda: producers.update_producer(code, actor=current_user, **data), errors) is not None:
            flash(_("Saved."), "ok")
            return redirect(url_for("backoffice.producer_edit", code=code))
    return _producer_page(producer, errors)


def _producer_page(producer: Producer, errors: FormErrors, cert_errors: FormErrors | None = None):
    certs = [(c, producers.document_of(c)) for c in producer.certificates]
    status = 422 if errors or cert_errors else 200
    return (
        render_template(
            "backoffice/producer_form.html",
            producer=producer,
            errors=errors,
            cert_errors=cert_errors or FormErrors(),
            form=request.form if errors else {},
            cert_form=request.form if cert_errors else {},
            certificates=certs,
            products=producers.products_of(producer),
            township_options=TOWNSHIP_OPTIONS,
            villages=producers.villages_by_township(),
            today=clock.today(),
        ),
        status,
    )


@bp.post("/producers/<code>/active")
@require_staff_page(*ADMIN)
def producer_active(code: str):
    active = forms.checked(request.form, "active")
    errors = FormErrors()
    if _run(lambda: producers.update_producer(code, active=active, actor=current_user), errors) is not None:
        flash(
            _("The producer is active again.")
            if active
            else _("The producer is deactivated; its products are off sale."),
            "ok",
        )
    else:
        flash(errors.get("general", ""), "error")
    return redirect(url_for("backoffice.producer_edit", code=code))


@bp.post("/producers/<code>/certificates")
@accepts_upload
@require_staff_page(*OFFICERS)
def certificate_add(code: str):
    producer = producers.get_producer_by_code(code)
    errors = FormErrors()
    number = forms.text(request.form, "number")
    issuer = forms.text(request.form, "issuer")
    valid_from = forms.day(request.form.get("valid_from"), "valid_from", errors)
    valid_until = forms.day(request.form.get("valid_until"), "valid_until", errors)
    for name, value in (
        ("number", number),
        ("issuer", issuer),
        ("valid_from", valid_from),
        ("valid_until", valid_until),
    ):
        if not value:
            errors.add(name, "required")
    if len(number) > 80:
        errors.add("number", "too long")
    if len(issuer) > 160:
        errors.add("issuer", "too long")
    scan = forms.file_bytes(request, "file", _settings().MEDIA_MAX_UPLOAD_BYTES)
    if not errors:

        def work():
            add_certificate(
                producer.id,
                number=number,
                issuer=issuer,
                valid_from=valid_from,
                valid_until=valid_until,
                actor=current_user,
            )
            if scan is not None:
                _check_size(scan)
                producers.attach_certificate_document(
                    number, scan, max_pixels=_settings().MEDIA_MAX_PIXELS, actor=current_user
                )
            return number

        if _run(work, errors):
            flash(_("Certificate %(number)s is registered.", number=number), "ok")
            return redirect(url_for("backoffice.producer_edit", code=code) + "#certificates")
    if "general" not in errors:
        errors["general"] = _("Please correct the fields marked below.")
    return _producer_page(producer, FormErrors(), errors)


def _check_size(content: bytes) -> None:
    limit = _settings().MEDIA_MAX_UPLOAD_BYTES
    if len(content) > limit:
        raise ShopError(
            _("The file is larger than %(mb)d MB.", mb=limit // (1024 * 1024)),
            errors=[{"field": "file", "message": "larger than the limit"}],
        )


@bp.post("/certificates/<string:number>/document")
@accepts_upload
@require_staff_page(*OFFICERS)
def certificate_document_upload(number: str):
    cert = producers.get_certificate(number)
    errors = FormErrors()
    scan = forms.file_bytes(request, "file", _settings().MEDIA_MAX_UPLOAD_BYTES)
    if scan is None:
        flash(_("Choose the scanned file first."), "error")
    else:

        def work():
            _check_size(scan)
            producers.attach_certificate_document(
                number, scan, max_pixels=_settings().MEDIA_MAX_PIXELS, actor=current_user
            )
            return True

        if _run(work, errors):
            flash(_("The scanned certificate is kept with it."), "ok")
        else:
            flash(errors.get("file") or errors.get("general", ""), "error")
    return redirect(url_for("backoffice.producer_edit", code=cert.producer.code) + "#certificates")


@bp.get("/certificates/<string:number>/document")
@require_staff_page(*OFFICERS)
def certificate_document(number: str):
    return document_response(*producers.read_certificate_document(number), number=number)


# -- categories, products, variants, images --------------------------------------------------------


def _variant_rows(form, count: int) -> tuple[list[dict], list[int], FormErrors]:
    """The variant rows filled in (empty rows skipped), their row numbers, and parse errors."""
    errors = FormErrors()
    rows, numbers = [], []
    for i in range(count):
        p = f"variants.{i}."
        if not any(forms.text(form, p + f) for f in ("sku", "name", "price")):
            continue
        n = len(rows)
        row = {
            "sku": forms.text(form, p + "sku").upper(),
            "name": forms.text(form, p + "name"),
            "name_en": forms.text(form, p + "name_en"),
            "unit": forms.text(form, p + "unit"),
            "unit_en": forms.text(form, p + "unit_en"),
            "price_fen": forms.yuan_to_fen(form.get(p + "price"), f"variants.{n}.price", errors),
            "weight_grams": forms.whole_number(
                form.get(p + "weight_grams"), f"variants.{n}.weight_grams", errors
            ),
            "perishable": forms.checked(form, p + "perishable"),
            "shelf_life_days": forms.whole_number(
                form.get(p + "shelf_life_days"), f"variants.{n}.shelf_life_days", errors, default=None
            ),
        }
        rows.append(row)
        numbers.append(i)
    return rows, numbers, errors


def _renumber(errors: FormErrors, numbers: list[int]) -> FormErrors:
    """Errors name the n-th filled row; the page shows them on the row the person typed in."""
    out = FormErrors()
    for field, message in errors.items():
        parts = field.split(".")
        if len(parts) >= 3 and parts[0] == "variants" and parts[1].isdigit() and int(parts[1]) < len(numbers):
            parts[1] = str(numbers[int(parts[1])])
            field = ".".join(parts)
        out.setdefault(field, message)
    return out


@bp.get("/products")
@require_staff_page(*ADMIN)
def product_list():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    q = (request.args.get("q") or "").strip()[:100] or None
    rows, total = products.list_products(page=page, per_page=PER_PAGE, q=q)
    return render_template(
        "backoffice/products.html",
        products=rows,
        covers={pid: imgs[0] if imgs else None for pid, imgs in media.images_for(p.id for p in rows).items()},
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        q=q or "",
        categories=products.categories(),
        errors=FormErrors(),
        form={},
    )


@bp.post("/categories")
@require_staff_page(*ADMIN)
def category_new():
    errors = FormErrors()
    form = request.form
    result = _run(
        lambda: (
            products.create_category(
                code=forms.text(form, "code"),
                name=forms.text(form, "name"),
                name_en=forms.text(form, "name_en"),
                actor=current_user,
            ).code
        ),
        errors,
    )
    if result:
        flash(_("Category %(code)s is added.", code=result), "ok")
        return redirect(url_for("backoffice.product_list"))
    rows, total = products.list_products(page=1, per_page=PER_PAGE)
    return (
        render_template(
            "backoffice/products.html",
            products=rows,
            covers={},
            total=total,
            page=1,
            pages=1,
            q="",
            categories=products.categories(),
            errors=errors,
            form=form,
        ),
        422,
    )


NEW_VARIANT_ROWS = 3


def _category_options() -> list[tuple[str, str]]:
    return [(c.code, localized(c, "name")) for c in products.categories()]


@bp.route("/products/new", methods=["GET", "POST"])
@require_staff_page(*ADMIN)
def product_new():
    errors = FormErrors()
    if request.method == "POST":
        form = request.form
        variants, numbers, parse_errors = _variant_rows(form, NEW_VARIANT_ROWS)
        data = {
            f: forms.text(form, f)
            for f in ("name", "name_en", "description", "description_en", "origin_mark")
        }
        result = _run(
            lambda: (
                products.create_product(
                    category=forms.text(form, "category"),
                    producer=forms.text(form, "producer"),
                    variants=variants,
                    actor=current_user,
                    **data,
                ).id
            ),
            errors,
        )
        for field, message in parse_errors.items():
            errors[field] = message
        errors = _renumber(errors, numbers)
        if result and not parse_errors:
            flash(_("The product is on sale."), "ok")
            return redirect(url_for("backoffice.product_edit", product_id=result))
    return _form_page(
        "backoffice/product_new.html",
        errors,
        category_options=_category_options(),
        producer_options=[
            (p.code, f"{localized(p, 'name')} · {p.township}") for p in products.active_producers()
        ],
        rows=NEW_VARIANT_ROWS,
        preselect=request.args.get("producer", ""),
    )


def _product_page(
    product: Product, errors: FormErrors | None = None, *, section: str = "", status: int = 200
):
    errors = errors or FormErrors()
    return (
        render_template(
            "backoffice/product_edit.html",
            product=product,
            errors=errors,
            section=section,
            form=request.form if errors else {},
            category_options=_category_options(),
            images=media.all_images(product.id),
            ready={v.id: v for v in media.images_for([product.id])[product.id]},
            history=products.price_history(product),
        ),
        422 if errors else status,
    )


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@require_staff_page(*ADMIN)
def product_edit(product_id: int):
    product = products.get_product(product_id)
    errors = FormErrors()
    if request.method == "POST":
        form = request.form
        data = {
            f: forms.text(form, f)
            for f in ("name", "name_en", "description", "description_en", "origin_mark")
        }
        data["category"] = forms.text(form, "category")
        data["active"] = forms.checked(form, "active")
        if _run(lambda: products.update_product(product_id, actor=current_user, **data), errors) is not None:
            flash(_("Saved."), "ok")
            return redirect(url_for("backoffice.product_edit", product_id=product_id))
    return _product_page(product, errors, section="product")


@bp.post("/products/<int:product_id>/variants")
@require_staff_page(*ADMIN)
def variant_add(product_id: int):
    product = products.get_product(product_id)
    rows, _numbers, errors = _variant_rows(request.form, 1)
    if not rows:
        errors.add("variants.0.sku", "required")
    else:
        row = rows[0]
        if (
            _run(lambda: products.add_variant(product_id, actor=current_user, **row).sku, errors)
            and not errors
        ):
            flash(_("Variant %(sku)s is added.", sku=row["sku"]), "ok")
            return redirect(url_for("backoffice.product_edit", product_id=product_id) + "#variants")
        errors = FormErrors(
            {
                (k if k.startswith(("variants.", "general")) else f"variants.0.{k}"): v
                for k, v in errors.items()
            }
        )
    return _product_page(product, errors, section="variant")


@bp.post("/variants/<sku>")
@require_staff_page(*ADMIN)
def variant_edit(sku: str):
    variant = products.get_variant(sku)
    errors = FormErrors()
    price = forms.yuan_to_fen(request.form.get("price"), "price", errors)
    active = forms.checked(request.form, "active")
    if not errors:
        changed = _run(
            lambda: products.update_variant(sku, price_fen=price, active=active, actor=current_user).sku,
            errors,
        )
        if changed:
            flash(_("%(sku)s is saved; a new price applies to orders placed from now on.", sku=sku), "ok")
            return redirect(url_for("backoffice.product_edit", product_id=variant.product_id) + "#variants")
    flash(
        _("%(sku)s: %(problem)s", sku=sku, problem=errors.get("price") or errors.get("general", "")), "error"
    )
    return redirect(url_for("backoffice.product_edit", product_id=variant.product_id) + "#variants")


@bp.post("/products/<int:product_id>/images")
@accepts_upload
@require_staff_page(*ADMIN)
def image_upload(product_id: int):
    product = products.get_product(product_id)
    errors = FormErrors()
    content = forms.file_bytes(request, "file", _settings().MEDIA_MAX_UPLOAD_BYTES)
    if content is None:
        errors.add("file", "required")
    else:

        def work():
            _check_size(content)
            return media.add_product_image(product_id, content, actor=current_user).id

        if _run(work, errors):
            flash(_("The photo is uploaded; its sizes are being prepared."), "ok")
            return redirect(url_for("backoffice.product_edit", product_id=product_id) + "#images")
    if errors.get("general") == _("Please correct the fields marked below.") and "file" in errors:
        del errors["general"]
    return _product_page(product, errors, section="images")


@bp.post("/images/<int:image_id>/cover")
@require_staff_page(*ADMIN)
def image_cover(image_id: int):
    errors = FormErrors()
    product_id = _run(lambda: media.make_cover(image_id, actor=current_user).product_id, errors)
    if product_id:
        flash(_("This photo is now the cover."), "ok")
        return redirect(url_for("backoffice.product_edit", product_id=product_id) + "#images")
    flash(errors.get("general", ""), "error")
    return redirect(url_for("backoffice.product_list"))


@bp.post("/images/<int:image_id>/delete")
@require_staff_page(*ADMIN)
def image_delete(image_id: int):
    errors = FormErrors()
    product_id = _run(lambda: media.remove_image(image_id, actor=current_user), errors)
    if product_id:
        flash(_("The photo is removed."), "ok")
        return redirect(url_for("backoffice.product_edit", product_id=product_id) + "#images")
    flash(errors.get("general", ""), "error")
    return redirect(url_for("backoffice.product_list"))


# -- locations and operators -----------------------------------------------------------------------


def _location_data(form, errors: FormErrors, *, creating: bool) -> dict:
    data = {f: forms.text(form, f) for f in locations.TEXT}
    if creating:
        data["kind"] = forms.text(form, "kind")
    data["pickup"] = forms.checked(form, "pickup")
    data["ships"] = forms.checked(form, "ships")
    for field in ("opens_on", "closes_on"):
        raw = forms.text(form, field)
        data[field] = forms.day(raw, field, errors) if raw else None
        if raw and data[field] is None:
            data[field] = raw  # the use case names it as a bad date too
    return data


@bp.get("/locations")
@require_staff_page(*ADMIN)
def location_list():
    rows = locations.list_locations()
    return render_template(
        "backoffice/locations.html",
        locations=rows,
        operators={loc.id: locations.operators_of(loc) for loc in rows},
        today=clock.today(),
    )


@bp.route("/locations/new", methods=["GET", "POST"])
@require_staff_page(*ADMIN)
def location_new():
    errors = FormErrors()
    if request.method == "POST":
        data = _location_data(request.form, errors, creating=True)
        code = forms.text(request.form, "code").upper()
        result = _run(lambda: locations.create_location(code=code, actor=current_user, **data).code, errors)
        if result:
            flash(_("%(code)s is open.", code=result), "ok")
            return redirect(url_for("backoffice.location_edit", code=result))
    return _form_page("backoffice/location_form.html", errors, location=None)


def _location_page(loc: Location, errors: FormErrors, op_errors: FormErrors | None = None):
    return (
        render_template(
            "backoffice/location_form.html",
            location=loc,
            errors=errors,
            op_errors=op_errors or FormErrors(),
            form=request.form if errors else {},
            operators=locations.operators_of(loc),
            candidates=locations.operator_candidates(loc),
        ),
        422 if errors or op_errors else 200,
    )


@bp.route("/locations/<code>", methods=["GET", "POST"])
@require_staff_page(*ADMIN)
def location_edit(code: str):
    loc = locations.get_location(code)
    errors = FormErrors()
    if request.method == "POST":
        data = _location_data(request.form, errors, creating=False)
        if _run(lambda: locations.update_location(code, actor=current_user, **data), errors) is not None:
            flash(_("Saved."), "ok")
            return redirect(url_for("backoffice.location_edit", code=code))
    return _location_page(loc, errors)


@bp.post("/locations/<code>/operators")
@require_staff_page(*ADMIN)
def operator_assign(code: str):
    loc = locations.get_location(code)
    errors = FormErrors()
    email = forms.text(request.form, "email")
    if _run(lambda: locations.assign_operator(code, email=email, actor=current_user).email, errors):
        flash(_("%(email)s now works at %(place)s.", email=email, place=loc.name_zh), "ok")
        return redirect(url_for("backoffice.location_edit", code=code) + "#operators")
    return _location_page(loc, FormErrors(), errors)


@bp.post("/locations/<code>/operators/<int:user_id>/remove")
@require_staff_page(*ADMIN)
def operator_remove(code: str, user_id: int):
    errors = FormErrors()
    _run(lambda: locations.remove_operator(code, user_id=user_id, actor=current_user), errors)
    flash(
        _("The operator no longer works here.") if not errors else errors.get("general", ""),
        "ok" if not errors else "error",
    )
    return redirect(url_for("backoffice.location_edit", code=code) + "#operators")


# -- programmes ------------------------------------------------------------------------------------


def _targets(form, prefix: str, keys, errors: FormErrors) -> dict[str, int]:
    out = {}
    for key in keys:
        raw = forms.text(form, f"{prefix}.{key}")
        if raw:
            fen = forms.yuan_to_fen(raw, f"{prefix}.{key}", errors)
            if fen:
                out[key] = fen
    return out


def _programme_context(prog: AidProgramme | None) -> dict:
    halls = [loc for loc in locations.list_locations() if loc.kind in ("hall", "fair")]
    current: dict[str, dict[str, int]] = {"channel": {}, "location": {}, "township": {}}
    if prog is not None:
        by_id = {loc.id: loc.code for loc in halls}
        for t in prog.targets:
            if t.channel:
                current["channel"][t.channel] = t.target_fen
            elif t.township:
                current["township"][t.township] = t.target_fen
            elif t.location_id in by_id:
                current["location"][by_id[t.location_id]] = t.target_fen
    return {
        "programme": prog,
        "channels": [(c, CHANNEL_NAMES[c]) for c in CHANNELS],
        "halls": halls,
        "townships": GANGU_TOWNSHIPS,
        "current": current,
    }


def _programme_data(form, errors: FormErrors, halls) -> dict:
    data = {
        "name_zh": forms.text(form, "name"),
        "name_en": forms.text(form, "name_en") or forms.text(form, "name"),
        "note": forms.text(form, "note"),
        "channel_targets": _targets(form, "channel_targets", CHANNELS, errors),
        "location_targets": _targets(form, "location_targets", [h.code for h in halls], errors),
        "township_targets": _targets(form, "township_targets", [zh for zh, _en in GANGU_TOWNSHIPS], errors),
    }
    for field in ("name_zh",):
        if not data[field]:
            errors.add("name", "required")
    if len(data["note"]) > 2000:
        errors.add("note", "too long")
    return data


@bp.get("/programmes")
@require_staff_page(*OFFICERS)
def programme_list():
    return render_template("backoffice/programmes.html", programmes=programmes.list_programmes())


@bp.route("/programmes/new", methods=["GET", "POST"])
@require_staff_page(*OFFICERS)
def programme_new():
    errors = FormErrors()
    context = _programme_context(None)
    if request.method == "POST":
        form = request.form
        data = _programme_data(form, errors, context["halls"])
        code = forms.text(form, "code")
        if not code:
            errors.add("code", "required")
        elif len(code) > 40:
            errors.add("code", "too long")
        starts_on = forms.day(form.get("starts_on"), "starts_on", errors)
        ends_on = forms.day(form.get("ends_on"), "ends_on", errors)
        for name, value in (("starts_on", starts_on), ("ends_on", ends_on)):
            if value is None:
                errors.add(name, "required")
        target = forms.yuan_to_fen(form.get("target"), "target", errors)
        if not errors:
            result = _run(
                lambda: (
                    programmes.create_programme(
                        code=code,
                        starts_on=starts_on,
                        ends_on=ends_on,
                        target_fen=target,
                        actor=current_user,
                        **data,
                    ).code
                ),
                errors,
            )
            if result:
                flash(_("Programme %(code)s is set up.", code=result), "ok")
                return redirect(url_for("backoffice.programme_edit", code=result))
        errors.setdefault("general", _("Please correct the fields marked below."))
    return _form_page("backoffice/programme_form.html", errors, **context)


@bp.route("/programmes/<code>", methods=["GET", "POST"])
@require_staff_page(*OFFICERS)
def programme_edit(code: str):
    prog = programmes.get_programme(code)
    errors = FormErrors()
    context = _programme_context(prog)
    if request.method == "POST":
        form = request.form
        data = _programme_data(form, errors, context["halls"])
        target = forms.yuan_to_fen(form.get("target"), "target", errors)
        if not errors:
            done = _run(
                lambda: programmes.update_programme(code, target_fen=target, actor=current_user, **data).code,
                errors,
            )
            if done:
                flash(_("Saved."), "ok")
                return redirect(url_for("backoffice.programme_edit", code=code))
        errors.setdefault("general", _("Please correct the fields marked below."))
    return _form_page("backoffice/programme_form.html", errors, **context)
