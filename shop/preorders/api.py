"""Harvest pre-orders under /api/v1: campaigns (public reads, admin set-up and harvest) and pledges.

Thin: parse, call one use case in one unit of work, render. A pledge's order is paid through the order
payment endpoints (manual, Stripe, pickup card) like any other.
"""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.core.api import PageArgs, page_of
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.core.limits import limit_orders
from shop.orders.api import _delivery
from shop.preorders import harvest, services
from shop.preorders import schemas as s
from shop.preorders.errors import CampaignNotFound

blp = Blueprint("preorders_api", __name__, url_prefix="/api/v1", description="Harvest pre-orders (认购)")
SECURITY = [{"bearerAuth": []}]


@blp.route("/campaigns", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, s.CampaignPage)
def list_campaigns(args: dict):
    """Published campaigns, newest opening first, with honest progress (units pledged and paid)."""
    rows, total = page_of(services.campaigns_query(), page=args["page"], per_page=args["per_page"])
    return {
        "items": [s.campaign_dict(c) for c in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/campaigns/<code>", methods=["GET"])
@blp.response(200, s.CampaignOut)
def get_campaign(code: str):
    """One published campaign."""
    campaign = services.get_campaign(code)
    if campaign.status == "draft":
        raise CampaignNotFound(f"campaign {code!r} does not exist")
    return s.campaign_dict(campaign)


@blp.route("/admin/campaigns", methods=["POST"])
@idempotent
@blp.arguments(s.CampaignIn)
@blp.response(201, s.CampaignOut)
@blp.alt_response(409, description="The code is taken")
@blp.doc(security=SECURITY)
@require_role("admin")
def create_campaign(data: dict):
    """Set up a campaign (``status: draft`` to prepare it unseen; ``open``, the default, publishes it)."""
    with atomic():
        return s.campaign_dict(services.create_campaign(**data, actor=api_user()))


@blp.route("/admin/campaigns", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, s.CampaignPage)
@blp.doc(security=SECURITY)
@require_role("admin", "aid_officer")
def admin_list_campaigns(args: dict):
    """Every campaign, drafts included."""
    rows, total = page_of(
        services.campaigns_query(public=False), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [s.campaign_dict(c) for c in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/admin/campaigns/<code>/status", methods=["POST"])
@blp.arguments(s.CampaignStatusIn)
@blp.response(200, s.CampaignOut)
@blp.alt_response(409, description="The campaign is past drafting, or has pledges")
@blp.doc(security=SECURITY)
@require_role("admin")
def set_status(data: dict, code: str):
    """Publish a draft (``open``) or take it back to ``draft`` while nobody has pledged."""
    with atomic():
        return s.campaign_dict(services.set_campaign_status(code, status=data["status"], actor=api_user()))


@blp.route("/admin/campaigns/<code>/harvest", methods=["POST"])
@blp.arguments(s.HarvestIn)
@blp.response(200, s.HarvestOut)
@blp.alt_response(409, description="Still open, a draft, or harvested with another number")
@blp.doc(security=SECURITY)
@require_role("admin")
def record_harvest(data: dict, code: str):
    """Receive the harvest (``units`` into the campaign's location, on lot ``lot`` with its dates) and
    decide: paid pledges are filled in the order they were paid until the units run out, the rest refunded
    in full. A task does the filling and refunds in batches. The same call again changes nothing."""
    with atomic():
        done = harvest.record_harvest(code, actor=api_user(), **data)
        return {
            "code": done.campaign.code,
            "units": done.campaign.harvested_units,
            "allocated_units": done.allocated_units,
            "refunded_units": done.refunded_units,
            "status": services.status_of(done.campaign),
        }


@blp.route("/campaigns/<code>/pledges", methods=["POST"])
@idempotent
@limit_orders
@blp.arguments(s.PledgeIn)
@blp.response(201, s.PledgeOut)
@blp.alt_response(409, description="Beyond the campaign's or the buyer's cap, or outside the window")
@blp.doc(security=SECURITY)
@require_role()
def create_pledge(data: dict, code: str):
    """Pledge units of a campaign; the answer's ``order_id`` is paid like any order."""
    with atomic():
        pledge = services.place_pledge(api_user(), code, data["quantity"], _delivery(data["delivery"]))
        return s.pledge_dict(pledge)


@blp.route("/pledges", methods=["GET"])
@blp.arguments(s.PledgeListArgs, location="query")
@blp.response(200, s.PledgePage)
@blp.doc(security=SECURITY)
@require_role()
def list_pledges(args: dict):
    """The caller's pledges, newest first (``campaign``: one campaign's)."""
    campaign = services.get_campaign(args["campaign"]) if args.get("campaign") else None
    rows, total = page_of(
        services.pledges_query(api_user(), campaign=campaign), page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [s.pledge_dict(p) for p in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/pledges/<int:pledge_id>", methods=["GET"])
@blp.response(200, s.PledgeOut)
@blp.doc(security=SECURITY)
@require_role()
def get_pledge(pledge_id: int):
    """One pledge (its buyer, officers and admins)."""
    return s.pledge_dict(services.pledge_for_viewer(pledge_id, api_user()))


@blp.route("/pledges/<int:pledge_id>/cancel", methods=["POST"])
@blp.response(200, s.PledgeOut)
@blp.alt_response(409, description="The campaign has closed, or the pledge is settled")
@blp.doc(security=SECURITY)
@require_role()
def cancel_pledge(pledge_id: int):
    """Withdraw a pledge before the campaign closes: cancelled if unpaid, refunded in full if paid."""
    with atomic():
        return s.pledge_dict(services.cancel_pledge(pledge_id, buyer=api_user()))
