"""The buyer's side of the shop: where they get their goods (a pickup hall or delivery) and what is
available there, their address book, an order's timeline, QR codes and short links.

The choice of hall or delivery lives in the web session beside the cart (``delivery_choice``), so the
product page, the cart and the checkout all show what the buyer can actually get.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from shop.accounts.models import User
from shop.aid import cache as aid_cache
from shop.aid.models import AidRollup
from shop.aid.services import current_programme
from shop.catalog.models import Location, Producer
from shop.core import clock
from shop.core.db import db
from shop.core.errors import ValidationFailed
from shop.inventory.models import Lot, StockLevel
from shop.orders.models import Order
from shop.orders.services import TIANJIN_DISTRICTS
from shop.storefront.models import BuyerAddress

CHOICE_KEY = "delivery_choice"
MAX_ADDRESSES = 20
PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")


# -- hall or delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryChoice:
    type: str  # "pickup" | "ship"
    location: str | None = None  # the hall's code for pickup


def pickup_halls() -> list[Location]:
    """Halls open for pickup today, in their usual order."""
    today = clock.today()
    rows = db.session.scalars(select(Location).where(Location.pickup.is_(True)).order_by(Location.id))
    return [loc for loc in rows if loc.is_active_on(today)]


def delivery_choice(session: MutableMapping) -> DeliveryChoice | None:
    """The buyer's remembered choice, if it still names an open hall (or delivery)."""
    raw = session.get(CHOICE_KEY)
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "ship":
        return DeliveryChoice("ship")
    code = raw.get("location")
    if raw.get("type") == "pickup" and isinstance(code, str) and any(h.code == code for h in pickup_halls()):
        return DeliveryChoice("pickup", code)
    return None


def choose_delivery(session: MutableMapping, value: str) -> DeliveryChoice | None:
    """Remember ``value`` ("ship", or a pickup hall's code); anything else forgets the choice."""
    if value == "ship":
        session[CHOICE_KEY] = {"type": "ship"}
        return DeliveryChoice("ship")
    if any(h.code == value for h in pickup_halls()):
        session[CHOICE_KEY] = {"type": "pickup", "location": value}
        return DeliveryChoice("pickup", value)
    session.pop(CHOICE_KEY, None)
    return None


def availability_for(variant_ids: Iterable[int], choice: DeliveryChoice | None) -> dict[int, int] | None:
    """Units the buyer can get per variant: at the chosen hall, or at the best shipping location for
    delivery (one parcel leaves one location). None when nothing is chosen yet."""
    ids = list(variant_ids)
    if choice is None or not ids:
        return None
    stmt = select(StockLevel.variant_id, StockLevel.on_hand - StockLevel.reserved).join(
        Location, Location.id == StockLevel.location_id
    )
    if choice.type == "pickup":
        stmt = stmt.where(Location.code == choice.location)
    else:
        stmt = stmt.where(Location.ships.is_(True))
    found: dict[int, int] = {}
    for vid, units in db.session.execute(stmt.where(StockLevel.variant_id.in_(ids))):
        found[vid] = max(found.get(vid, 0), int(units or 0))
    return {vid: found.get(vid, 0) for vid in ids}


def hall_availability(variant_ids: Iterable[int]) -> dict[str, dict[int, int]]:
    """Units available per hall code and variant (for the product page's hall picker)."""
    ids = list(variant_ids)
    out: dict[str, dict[int, int]] = {h.code: dict.fromkeys(ids, 0) for h in pickup_halls()}
    if not ids or not out:
        return out
    rows = db.session.execute(
        select(Location.code, StockLevel.variant_id, StockLevel.on_hand - StockLevel.reserved)
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.variant_id.in_(ids), Location.code.in_(list(out)))
    )
    for code, vid, units in rows:
        out[code][vid] = int(units or 0)
    return out


def next_lots(variant_ids: Iterable[int], choice: DeliveryChoice | None) -> dict[int, Lot]:
    """For fresh produce: the lot a buyer at the chosen hall gets first (first expiry, units left), with
    its harvest and best-before dates. Nothing when no hall is chosen (delivery picks its location later)."""
    ids = list(variant_ids)
    if choice is None or choice.type != "pickup" or not ids:
        return {}
    rows = db.session.scalars(
        select(Lot)
        .join(Location, Location.id == Lot.location_id)
        .where(Location.code == choice.location, Lot.variant_id.in_(ids), Lot.quantity > 0)
        .order_by(Lot.variant_id, Lot.best_before.is_(None), Lot.best_before, Lot.id)
    )
    first: dict[int, Lot] = {}
    for lot in rows:
        first.setdefault(lot.variant_id, lot)
    return first


# -- address book -----------------------------------------------------------------------------------


def addresses(user: User) -> list[BuyerAddress]:
    """The buyer's addresses, the default first."""
    stmt = select(BuyerAddress).where(BuyerAddress.user_id == user.id)
    return list(db.session.scalars(stmt.order_by(BuyerAddress.is_default.desc(), BuyerAddress.id)))


def _check_address(label: str, recipient: str, phone: str, district: str, street_address: str) -> None:
    errors = []
    if not recipient.strip():
        errors.append({"field": "recipient", "message": "required"})
    if not PHONE.fullmatch(phone.strip()):
        errors.append({"field": "phone", "message": "a mainland mobile or landline number"})
    if district not in TIANJIN_DISTRICTS:
        errors.append({"field": "district", "message": "a district of Tianjin"})
    if len(street_address.strip()) < 4:
        errors.append({"field": "street_address", "message": "required"})
    if len(label) > 30 or len(recipient) > 60 or len(street_address) > 200:
        errors.append({"field": "street_address", "message": "too long"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def save_address(
    user: User,
    *,
    recipient: str,
    phone: str,
    district: str,
    street_address: str,
    label: str = "",
    make_default: bool = False,
    address_id: int | None = None,
) -> BuyerAddress:
    """Add (or, with ``address_id``, change) an address in ``user``'s book; the first is the default."""
    _check_address(label, recipient, phone, district, street_address)
    if address_id is not None:
        entry = address_of(user, address_id)
    else:
        # Lock the buyer's row so two tabs adding at once cannot pass the limit or both become default.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
        count = db.session.scalar(select(func.count()).where(BuyerAddress.user_id == user.id)) or 0
        if count >= MAX_ADDRESSES:
            raise ValidationFailed(
                f"an address book holds at most {MAX_ADDRESSES} addresses",
                errors=[{"field": "street_address", "message": "address book full"}],
            )
        entry = BuyerAddress(user_id=user.id, is_default=count == 0)
        db.session.add(entry)
    entry.label = label.strip()
    entry.recipient = recipient.strip()
    entry.phone = phone.strip()
    entry.district = district
    entry.street_address = street_address.strip()
    db.session.flush()
    if make_default:
        set_default(user, entry.id)
    return entry


def address_of(user: User, address_id: int) -> BuyerAddress:
    entry = db.session.get(BuyerAddress, address_id)
    if entry is None or entry.user_id != user.id:
        raise ValidationFailed("no such address", errors=[{"field": "address", "message": "unknown"}])
    return entry


def set_default(user: User, address_id: int) -> None:
    """Make one address the default; the others stop being it."""
    address_of(user, address_id)
    db.session.execute(
        update(BuyerAddress)
        .where(BuyerAddress.user_id == user.id)
        .values(is_default=BuyerAddress.id == address_id)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()


def delete_address(user: User, address_id: int) -> None:
    """Remove an address; when it was the default the oldest remaining one becomes the default."""
    entry = address_of(user, address_id)
    was_default = entry.is_default
    db.session.delete(entry)
    db.session.flush()
    if was_default:
        rest = addresses(user)
        if rest:
            set_default(user, rest[0].id)


# -- order timeline ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str
    at: datetime | None
    done: bool


def timeline(order: Order, fulfilment: dict | None) -> list[Step]:
    """The order's steps as the buyer follows them, each with its time (shown in Beijing time)."""
    f = fulfilment or {}
    steps = [Step("placed", order.created_at, True)]
    if order.status in ("cancelled", "expired"):
        steps.append(Step(order.status, order.closed_at, True))
        return steps
    paid = order.paid_at is not None or order.status not in ("pending_payment",)
    steps.append(Step("paid", order.paid_at, paid))
    if order.delivery_type == "pickup":
        steps.append(Step("ready_for_pickup", f.get("ready_at"), bool(f.get("ready_at"))))
        steps.append(Step("picked_up", f.get("handed_over_at"), bool(f.get("handed_over_at"))))
    else:
        steps.append(Step("shipped", f.get("shipped_at"), bool(f.get("shipped_at"))))
        steps.append(Step("delivered", f.get("delivered_at"), bool(f.get("delivered_at"))))
    if order.status in ("refunded", "partially_refunded"):
        steps.append(Step(order.status, order.closed_at, True))
    return steps


# -- QR codes ---------------------------------------------------------------------------------------


def qr_svg(text: str, *, scale: int = 6) -> bytes:
    """``text`` as a QR code in SVG (no outside service; the shop serves it)."""
    # why: segno is loaded by the processes that draw a QR code, not by every worker at start
    import segno

    qr = segno.make(text, error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True, title=None)
    return out.getvalue()


# -- the aid story ----------------------------------------------------------------------------------

STORY_KEY = "shop:storefront:aid-story"


def compute_aid_story() -> dict | None:
    """What buyers' purchases did this programme year: the counted total, the producers reached and the
    registered poor households linked to them (each producer's figure once)."""
    prog = current_programme()
    if prog is None:
        return None
    total = func.sum(AidRollup.amount_fen)
    rows = db.session.execute(
        select(AidRollup.producer_id, total)
        .where(AidRollup.programme_id == prog.id, AidRollup.qualifying.is_(True))
        .group_by(AidRollup.producer_id)
    ).all()
    reached = [pid for pid, amount in rows if (amount or 0) > 0]
    households = 0
    if reached:
        households = int(
            db.session.scalar(
                select(func.coalesce(func.sum(Producer.linked_households), 0)).where(Producer.id.in_(reached))
            )
            or 0
        )
    return {
        "code": prog.code,
        "name_zh": prog.name_zh,
        "name_en": prog.name_en,
        "year": prog.starts_on.year,
        "total_fen": sum(int(amount or 0) for _pid, amount in rows),
        "producers_reached": len(reached),
        "households_linked": households,
        "as_of": clock.now().isoformat(timespec="seconds"),
    }


def aid_story() -> dict | None:
    """``compute_aid_story``, cached for a few seconds like the banner figure (shop.aid.cache)."""
    return aid_cache.cached(STORY_KEY, compute_aid_story)
