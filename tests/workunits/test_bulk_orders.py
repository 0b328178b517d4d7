"""Bulk and welfare orders from a CSV or XLSX upload: all placed and paid on account, or none."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from shop.aid.models import AidEntry
from shop.core.db import db
from shop.orders.models import Order
from shop.workunits.models import AccountEntry, BulkOrder
from tests.workunits.helpers import SKU, register_unit, stock

HEADER = "收货人,电话,区,详细地址,商品编码,数量,备注\n"


def _unit(api, admin, *, verify=True):
    uid = register_unit(api, "union@example.cn", title="东丽区总工会", unit_type="trade_union")
    if verify:
        admin.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"})
    return uid, api.as_user("union@example.cn")


def _row(i: int) -> str:
    return f"职工{i},138{i:08d},东丽区,华明街道{i}号,{SKU},1,中秋福利\n"


def _upload(client, content: bytes, name="welfare.csv", key=None):
    return client.client.post(
        "/api/v1/bulk-orders",
        data={"file": (io.BytesIO(content), name)},
        headers={"Authorization": f"Bearer {client.token}", **({"Idempotency-Key": key} if key else {})},
        content_type="multipart/form-data",
    )


def _counts():
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(Order)),
        db.session.scalar(select(func.count()).select_from(AidEntry)),
        db.session.scalar(select(func.count()).select_from(AccountEntry)),
        db.session.scalar(select(func.count()).select_from(BulkOrder)),
    )


def test_a_300_line_bulk_order_with_one_bad_row_stores_nothing_and_names_the_row(api, admin):
    _uid, unit = _unit(api, admin)
    rows = [_row(i) for i in range(300)]
    rows[149] = f"职工149,13800000149,朝阳区,北京某街1号,{SKU},1,\n"  # file row 151: not in Tianjin
    r = _upload(unit, (HEADER + "".join(rows)).encode())
    assert r.status_code == 422, r.json
    assert r.json["errors"] == [
        {"field": "rows.151.district", "message": "a district of Tianjin (e.g. 东丽区)"}
    ]
    assert "rows.151.district" in r.json["detail"]
    assert _counts() == (0, 0, 0, 0)


def test_a_bulk_order_places_one_order_per_recipient_paid_on_account(api, admin):
    """60 staff boxes (the 300-line case runs the same code; kept short for the suite's time)."""
    stock(halls=("GG-WH",), quantity=100)  # parcels ship from the county warehouse
    uid, unit = _unit(api, admin)
    content = (HEADER + "".join(_row(i) for i in range(60))).encode()
    r = _upload(unit, content, key="welfare-2026")
    assert r.status_code == 201, r.json
    assert len(r.json["orders"]) == 60 and r.json["rows"] == 60
    again = _upload(unit, content, key="welfare-2026")
    assert again.status_code == 201 and again.json["id"] == r.json["id"]  # the retry is the first answer
    orders, _entries, account, bulks = _counts()
    assert (orders, account, bulks) == (60, 60, 1)
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.status == "paid")) == 60
    direct = db.session.scalar(
        select(func.sum(AidEntry.amount_fen)).where(AidEntry.direct_purchase.is_(True))
    )
    assert direct == 60 * 9800 and r.json["total_fen"] == 60 * (9800 + 1000)  # delivery is not aid
    me = unit.get(f"/api/v1/work-units/{uid}/orders?per_page=5").json
    assert me["total"] == 60


def test_rows_for_one_recipient_become_one_order_and_pickup_rows_go_to_halls(api, admin):
    stock(halls=("GG-WH",), quantity=10)
    _uid, unit = _unit(api, admin)
    content = (
        "recipient,phone,district,address,pickup,sku,quantity\n"
        f"张三,13800000001,东丽区,华明街道1号,,{SKU},1\n"
        f"张三,13800000001,东丽区,华明街道1号,,CHL-LINE-500G,2\n"
        f"李四,13800000002,,,DL-WX,{SKU},3\n"
    )
    r = _upload(unit, content.encode())
    assert r.status_code == 201, r.json
    assert len(r.json["orders"]) == 2


def test_bad_files_are_refused_naming_row_and_column(api, admin):
    _uid, unit = _unit(api, admin)
    wrong_column = _upload(unit, f"收货人,电话,区,详细地址,商品编码,数量,颜色\n{_row(1)}".encode())
    assert wrong_column.status_code == 422
    assert wrong_column.json["errors"][0]["field"] == "rows.1.颜色"
    unknown = _upload(unit, (HEADER + _row(1) + _row(2).replace(SKU, "NOPE-1")).encode())
    assert unknown.status_code == 422 and unknown.json["errors"] == [
        {"field": "rows.3.sku", "message": "unknown SKU 'NOPE-1'"}
    ]
    outside = _upload(
        unit,
        (
            f"收货人,电话,城市,区,详细地址,商品编码,数量\n王五,13800000003,北京市,东丽区,某路1号,{SKU},1\n"
        ).encode(),
    )
    assert outside.status_code == 422 and outside.json["errors"][0]["field"] == "rows.2.city"
    not_csv = _upload(unit, b"\xff\xfe\x00garbage", name="x.csv")
    assert not_csv.status_code == 422
    too_many = _upload(unit, (HEADER + _row(1).replace(",1,", ",1000,")).encode())
    assert too_many.json["errors"][0]["field"] == "rows.2.quantity"
    assert _counts() == (0, 0, 0, 0)


def test_an_xlsx_upload_works_and_a_stock_shortage_places_nothing(api, admin):
    stock(halls=("GG-WH",), quantity=2000)
    _uid, unit = _unit(api, admin)
    wb = Workbook()
    ws = wb.active
    ws.append(["收货人", "电话", "区", "详细地址", "商品编码", "数量"])
    ws.append(["赵六", 13800000004, "河西区", "友谊路1号", SKU, 2])
    ws.append(["钱七", "13800000005", "南开区", "鞍山西道2号", SKU, 999])
    buf = io.BytesIO()
    wb.save(buf)
    r = _upload(unit, buf.getvalue(), name="welfare.xlsx")
    assert r.status_code == 201, r.json  # 2,000 in stock at the warehouse
    ws.append(["孙八", "13800000006", "南开区", "鞍山西道3号", SKU, 999])
    ws.append(["周九", "13800000007", "南开区", "鞍山西道4号", SKU, 999])
    ws.append(["吴十", "13800000008", "南开区", "鞍山西道5号", SKU, 999])
    ws.append(["郑一", "13800000009", "南开区", "鞍山西道6号", SKU, 999])
    buf = io.BytesIO()
    wb.save(buf)
    before = _counts()
    short = _upload(unit, buf.getvalue(), name="more.xlsx")
    assert short.status_code == 409, short.json
    assert short.json["errors"][0]["field"].startswith("rows.")
    assert _counts() == before


def test_only_a_verified_unit_may_upload(api, admin):
    _uid, unit = _unit(api, admin, verify=False)
    r = _upload(unit, (HEADER + _row(1)).encode())
    assert r.status_code == 409 and r.json["type"].endswith("unit-not-verified")
