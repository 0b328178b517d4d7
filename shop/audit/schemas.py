import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from shop.core.api import PageArgs, PageSchema


class AuditArgs(PageArgs):
    action = f.String(validate=v.Length(max=60))
    actor_id = f.Integer(validate=v.Range(min=1, max=2**31 - 1))
    target_type = f.String(validate=v.Length(max=40))
    since = f.AwareDateTime(default_timezone=None)


class AuditEventSchema(ma.Schema):
    id = f.Integer(required=True)
    actor_id = f.Integer(allow_none=True)
    actor_email = f.String()
    action = f.String(required=True)
    target_type = f.String(required=True)
    target_id = f.String(required=True)
    details = f.Dict()
    request_id = f.String()
    created_at = f.DateTime(required=True)


class AuditPageSchema(PageSchema):
    items = f.List(f.Nested(AuditEventSchema), required=True)
