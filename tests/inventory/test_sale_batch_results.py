"""A tablet's offline queue: one sale holding a NUL byte or an unpaired surrogate answers that sale
only; the sales around it are recorded, and the same queue posted again replays them (issue #13, item 5).
"""

import json

from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.inventory.models import CounterSale
from shop.inventory.services import reconcile
from tests.inventory.factories import OP_HM, level, put

BATCH = "/api/v1/locations/DL-HM/sales/batch"


def _sale(client_sale_id: str, sku: str = "SHOE-1", paid_with: str = "cash") -> dict:
    return {"client_sale_id": client_sale_id, "lines": [{"sku": sku, "quantity": 1}], "paid_with": paid_with}


def _count(model) -> int:
    from shop.core.db import db

    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def _post_raw(op, body: str):
    """Post the queue as the tablet's JSON text: ``\\ud800`` is a valid JSON escape for a lone surrogate."""
    return op.client.post(
        BATCH, data=body.encode(), headers={**op._headers(None), "Content-Type": "application/json"}
    )


def test_each_sale_gets_its_own_result_whatever_the_others_hold(any_world, any_api):
    put("SHOE-1", "DL-HM", 5)
    op = any_api.as_user(OP_HM)
    queue = [
        _sale("t-1"),
        _sale("t-2\u0000"),  # a NUL byte in the id
        _sale("t-3"),
        _sale("t-4", sku="SHOE-1\u0000"),  # and in a SKU
        _sale("t-5", paid_with="cash\u0000"),
        _sale("SURROGATE-ID"),  # replaced below by a lone surrogate
        _sale("t-7", sku="SURROGATE-SKU"),
        _sale("t-8"),
    ]
    body = (
        json.dumps({"sales": queue})
        .replace("SURROGATE-ID", "t-6\\ud800")
        .replace("SURROGATE-SKU", "SHOE\\udfff")
    )
    for expected in ([201, 422, 201, 422, 422, 422, 422, 201], [200, 422, 200, 422, 422, 422, 422, 200]):
        r = _post_raw(op, body)
        assert r.status_code == 200, r.get_data(as_text=True)
        assert [x["status"] for x in r.json["results"]] == expected
        bad = r.json["results"][1]["problem"]
        assert bad["status"] == 422 and bad["errors"][0]["field"] == "sales.1.client_sale_id"
        assert r.json["results"][3]["problem"]["errors"][0]["field"] == "sales.3.lines.0.sku"
        assert r.json["results"][5]["problem"]["errors"][0]["field"] == "sales.5.client_sale_id"
        assert r.json["results"][5]["client_sale_id"] == "t-6\ufffd"  # echoed as it can be sent back
        assert r.json["failed"] == 5
    assert _count(CounterSale) == 3 and level("SHOE-1", "DL-HM") == (2, 0)
    assert _count(AidEntry) == 3 and reconcile() == []


def test_the_single_sale_endpoint_refuses_the_same_input_cleanly(any_world, any_api):
    put("SHOE-1", "DL-HM", 2)
    op = any_api.as_user(OP_HM)
    body = json.dumps(_sale("SURROGATE")).replace("SURROGATE", "x\\ud800")
    r = op.client.post(
        "/api/v1/locations/DL-HM/sales",
        data=body.encode(),
        headers={**op._headers(None), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert r.json["errors"] == [
        {"field": "client_sale_id", "message": "contains a NUL or an unpaired surrogate character"}
    ]
    assert _count(CounterSale) == 0
