"""Registration, bearer tokens and the current user under /api/v1/auth."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts import services
from shop.accounts.auth import api_user, require_role
from shop.accounts.schemas import (
    RegisterSchema,
    RoleChangeSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
    user_dict,
)
from shop.core.db import atomic
from shop.core.limits import limit_auth

blp = Blueprint("accounts_api", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")


@blp.route("/register", methods=["POST"])
@limit_auth
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
def register(data: dict):
    """Register a customer (consumer or work-unit buyer)."""
    with atomic():
        user = services.register_customer(**data)
    return user_dict(user)


@blp.route("/token", methods=["POST"])
@limit_auth
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
def token(data: dict):
    """Exchange email and password for a bearer token."""
    try:
        with atomic():
            user = services.authenticate(**data)
    except services.BadCredentials:
        # The failed-login counter must persist even though the request fails.
        with atomic():
            services.record_failed_login(data["email"])
        raise
    access_token, ttl = services.issue_token(user)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl}


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
    """Change a user's role and granted locations (revokes their tokens; audited)."""
    with atomic():
        user = services.change_role(
            user_id, role=data["role"], location_codes=data["locations"], actor=api_user()
        )
    return user_dict(user)
