"""/api/v1/admin/staff: invite staff and producer accounts, change them, deactivate them (admins)."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts import people
from shop.accounts.auth import api_user, require_role
from shop.accounts.schemas import UserSchema, user_dict
from shop.core.db import atomic
from shop.core.idempotency import idempotent
from shop.people.schemas import (
    LinkSentSchema,
    StaffArgs,
    StaffInviteSchema,
    StaffPageSchema,
    StaffPatchSchema,
)

blp = Blueprint("people_api", __name__, url_prefix="/api/v1/admin/staff", description="People (admins)")


@blp.route("", methods=["POST"])
@idempotent
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(StaffInviteSchema)
@blp.response(201, UserSchema)
@require_role("admin")
def invite(data: dict):
    """Invite a staff member or producer account: the person gets an email link to set a password
    (``POST /api/v1/auth/password-reset/confirm``). An email that already has an account is 409."""
    with atomic():
        user = people.invite_staff(
            email=data["email"],
            name=data["name"],
            role=data["role"],
            location_codes=data.get("locations"),
            producer_code=data.get("producer"),
            actor=api_user(),
        )
    return user_dict(user)


@blp.route("", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(StaffArgs, location="query")
@blp.response(200, StaffPageSchema)
@require_role("admin")
def list_staff(args: dict):
    """Staff and producer accounts (``role=customer`` lists customers), by name; ``q`` searches."""
    rows, total = people.list_people(
        q=args.get("q"),
        role=args.get("role"),
        status=args.get("status"),
        page=args["page"],
        per_page=args["per_page"],
    )
    return {
        "items": [user_dict(u) for u in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/<int:user_id>", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, UserSchema)
@require_role("admin")
def get_staff(user_id: int):
    """One account."""
    return user_dict(people.get_person(user_id))


@blp.route("/<int:user_id>", methods=["PATCH"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(StaffPatchSchema)
@blp.response(200, UserSchema)
@require_role("admin")
def update_staff(data: dict, user_id: int):
    """Change name, role, halls or producer (a role, hall or producer change ends their sessions)."""
    with atomic():
        user = people.update_person(
            user_id,
            actor=api_user(),
            name=data.get("name"),
            role=data.get("role"),
            location_codes=data.get("locations"),
            producer_code=data.get("producer"),
        )
    return user_dict(user)


@blp.route("/<int:user_id>/deactivate", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, UserSchema)
@require_role("admin")
def deactivate(user_id: int):
    """Deactivate: every session and token of the account ends at once; it cannot sign in or reset."""
    with atomic():
        user = people.deactivate(user_id, actor=api_user())
    return user_dict(user)


@blp.route("/<int:user_id>/reactivate", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, UserSchema)
@require_role("admin")
def reactivate(user_id: int):
    """Let a deactivated account sign in again."""
    with atomic():
        user = people.reactivate(user_id, actor=api_user())
    return user_dict(user)


@blp.route("/<int:user_id>/password-link", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(202, LinkSentSchema)
@require_role("admin")
def password_link(user_id: int):
    """Email the person a new link: the invitation again if they never set a password, else a reset."""
    with atomic():
        people.send_password_link(user_id, actor=api_user())
    return {"detail": "a link to set a password is on its way"}
