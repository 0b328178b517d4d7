import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.accounts.models import ROLES
from shop.workunits.models import UNIT_TYPES
from shop.workunits.standing import verification_of


class RegisterSchema(ma.Schema):
    email = f.Email(required=True, validate=v.Length(max=254))
    password = f.String(required=True, load_only=True, validate=v.Length(min=8, max=128))
    name = f.String(required=True, validate=v.Length(min=1, max=120))
    buyer_kind = f.String(load_default="consumer", validate=v.OneOf(["consumer", "work_unit"]))
    invoice_title = f.String(load_default="", validate=v.Length(max=200))
    tax_id = f.String(
        load_default="",
        validate=v.Length(max=30),
        metadata={"description": "work units: the unified social credit code (18 characters, checked)"},
    )
    # Work units only (buyer_kind work_unit): what the unit is, its legal name (default: the invoice
    # title) and contact. The unit stays "pending" until an officer verifies it.
    unit_type = f.String(load_default="other", validate=v.OneOf(UNIT_TYPES))
    legal_name = f.String(load_default="", validate=v.Length(max=200))
    contact_name = f.String(load_default="", validate=v.Length(max=60))
    contact_phone = f.String(load_default="", validate=v.Length(max=20))


class TokenRequestSchema(ma.Schema):
    email = f.String(required=True, validate=v.Length(min=1, max=254))
    password = f.String(required=True, load_only=True, validate=v.Length(min=1, max=128))


class TokenSchema(ma.Schema):
    access_token = f.String(required=True)
    token_type = f.String(required=True)
    expires_in = f.Integer(required=True)


class UserSchema(ma.Schema):
    id = f.Integer(required=True)
    email = f.String(required=True)
    name = f.String(required=True)
    role = f.String(required=True)
    buyer_kind = f.String()
    invoice_title = f.String()
    tax_id = f.String()
    verification = f.String(
        allow_none=True,
        metadata={"description": "work units: pending, verified or rejected; null for everyone else"},
    )
    locations = f.List(f.String())
    producer = f.String(allow_none=True, metadata={"description": "code of the producer (producer role)"})
    active = f.Boolean(metadata={"description": "false once an admin deactivated the account"})
    password_set = f.Boolean(metadata={"description": "false for an invitation not yet accepted"})


def user_dict(user) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "buyer_kind": user.buyer_kind,
        "invoice_title": user.invoice_title,
        "tax_id": user.tax_id,
        "verification": verification_of(user.id) if user.buyer_kind == "work_unit" else None,
        "locations": [loc.code for loc in user.locations],
        "producer": user.producer.code if user.producer else None,
        "active": user.active,
        "password_set": user.has_password,
    }


_LOCATIONS = f.List(f.String(validate=v.Length(min=1, max=40)), load_default=list, validate=v.Length(max=20))


class RoleChangeSchema(ma.Schema):
    role = f.String(required=True, validate=v.OneOf(list(ROLES)))
    locations = _LOCATIONS
    producer = f.String(validate=v.Length(min=1, max=40), metadata={"description": "for the producer role"})


class LogoutSchema(ma.Schema):
    everywhere = f.Boolean(
        load_default=False, metadata={"description": "end every token and web session of the account"}
    )


class PasswordResetSchema(ma.Schema):
    email = f.Email(required=True, validate=v.Length(max=254))


class PasswordResetConfirmSchema(ma.Schema):
    token = f.String(required=True, load_only=True, validate=v.Length(min=1, max=200))
    password = f.String(required=True, load_only=True, validate=v.Length(min=8, max=128))


class AcceptedSchema(ma.Schema):
    detail = f.String(required=True)
