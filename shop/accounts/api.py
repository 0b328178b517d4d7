"""Registration, bearer tokens, logout, password links and the current user under /api/v1/auth."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from shop.accounts import passwords, services
from shop.accounts.auth import api_token, api_user, require_role
from shop.accounts.schemas import (
    AcceptedSchema,
    LogoutSchema,
    PasswordResetConfirmSchema,
    PasswordResetSchema,
    RegisterSchema,
    RoleChangeSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
    user_dict,
)
from shop.core.db import atomic
from shop.core.limits import limit_auth, limit_password_reset, limit_password_reset_email, limit_register
from shop.workunits.services import UnitRegistration, register_unit

blp = Blueprint("accounts_api", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")


@blp.route("/register", methods=["POST"])
@limit_register
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
def register(data: dict):
    """Register a customer: a consumer, or a work unit (pending until an officer verifies it)."""
    unit_fields = {k: data.pop(k) for k in ("unit_type", "legal_name", "contact_name", "contact_phone")}
    with atomic():
        if data["buyer_kind"] == "work_unit":
            user = register_unit(
                UnitRegistration(
                    email=data["email"],
                    password=data["password"],
                    name=data["name"],
                    invoice_title=data["invoice_title"],
                    tax_id=data["tax_id"],
                    **unit_fields,
                )
            )
        else:
            user = services.register_customer(**data)
        return user_dict(user)


@blp.route("/token", methods=["POST"])
@limit_auth
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
def token(data: dict):
    """Exchange email and password for a bearer token.

    Wrong passwords are limited per account and client address: after ``LOGIN_MAX_FAILURES_PER_CLIENT``
    within the window that client gets 429 with ``retry_after`` for that account (docs/operations.md).
    """
    user = services.sign_in(email=data["email"], password=data["password"], client=request.remote_addr or "")
    access_token, ttl = services.issue_token(user)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl}


@blp.route("/logout", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(LogoutSchema, required=False)
@blp.response(204)
def logout(data: dict | None):
    """End this bearer token (other devices stay signed in); ``everywhere: true`` ends every token and
    web session of the account."""
    claims = api_token()
    with atomic():
        services.log_out_token(claims, everywhere=bool((data or {}).get("everywhere")))


@blp.route("/password-reset", methods=["POST"])
@limit_password_reset
@limit_password_reset_email
@blp.arguments(PasswordResetSchema)
@blp.response(202, AcceptedSchema)
def password_reset(data: dict):
    """Email a link to set a new password: 202 whether or not the address has an account."""
    with atomic():
        passwords.request_reset(data["email"])
    return {"detail": "if an account exists for this address, a link to set a new password is on its way"}


@blp.route("/password-reset/confirm", methods=["POST"])
@limit_password_reset
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(204)
def password_reset_confirm(data: dict):
    """Set a password with an emailed link (a reset or an invitation): 204; earlier tokens and sessions end.

    An unknown, used or expired link is 422 with ``errors: [{field: "token"}]``.
    """
    with atomic():
        passwords.confirm(data["token"], data["password"])


@blp.route("/me")
@blp.response(200, UserSchema)
@blp.doc(security=[{"bearerAuth": []}])
def me():
    """The signed-in user."""
    return user_dict(api_user())


admin_blp = Blueprint(
    "accounts_admin_api", __name__, url_prefix="/api/v1/admin", description="User administration"
)


@admin_blp.route("/users/<int:user_id>/role", methods=["POST"])
@admin_blp.doc(security=[{"bearerAuth": []}])
@admin_blp.arguments(RoleChangeSchema)
@admin_blp.response(200, UserSchema)
@require_role("admin")
def change_role(data: dict, user_id: int):
    """Change a user's role, granted locations and producer (ends their tokens and sessions; audited)."""
    with atomic():
        user = services.change_role(
            user_id,
            role=data["role"],
            location_codes=data["locations"],
            producer_code=data.get("producer"),
            actor=api_user(),
        )
    return user_dict(user)
