import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.accounts.models import INVITABLE_ROLES, ROLES
from shop.accounts.people import STATUSES
from shop.accounts.schemas import UserSchema
from shop.core.api import PageArgs, PageSchema

_LOCATIONS = f.List(
    f.String(validate=v.Length(min=1, max=40)),
    validate=v.Length(max=20),
    metadata={"description": "codes of the halls an operator works at"},
)
_PRODUCER = f.String(
    validate=v.Length(min=1, max=40), metadata={"description": "producer code (producer role)"}
)


class StaffInviteSchema(ma.Schema):
    email = f.Email(required=True, validate=v.Length(max=254))
    name = f.String(required=True, validate=v.Length(min=1, max=120))
    role = f.String(required=True, validate=v.OneOf(INVITABLE_ROLES))
    locations = _LOCATIONS
    producer = _PRODUCER


class StaffPatchSchema(ma.Schema):
    name = f.String(validate=v.Length(min=1, max=120))
    role = f.String(validate=v.OneOf(ROLES))
    locations = _LOCATIONS
    producer = _PRODUCER


class StaffArgs(PageArgs):
    q = f.String(validate=v.Length(max=100), metadata={"description": "part of the name or email"})
    role = f.String(validate=v.OneOf(ROLES))
    status = f.String(validate=v.OneOf(STATUSES))


class StaffPageSchema(PageSchema):
    items = f.List(f.Nested(UserSchema), required=True)


class LinkSentSchema(ma.Schema):
    detail = f.String(required=True)
