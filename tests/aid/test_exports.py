"""Exports of the known ledger, checked cell by cell in CSV and XLSX, and their limits."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from shop.aid import exports
from tests.aid.conftest import CODE, YEAR

HEADERS = ["日期", "来源单号", "记录类型", "渠道", "统计类别", "产品类别", "产品", "商品编码", "生产主体", "乡镇",
           "销售地点", "数量", "消费帮扶金额（元）", "认定扶贫产品", "认定证书编号"]  # fmt: skip
CERT = f"GGFP-{YEAR - 1}"
ROWS = [
    [date(YEAR, 1, 15), "order:1", "销售", "线上商城", "帮助销售", "水果", "花牛苹果", "APL-HN-5KG",
     "花牛苹果专业合作社", "安远镇", "", 2, "136.00", "是", f"{CERT}-001"],
    [date(YEAR, 2, 3), "counter-sale:1", "销售", "扶贫展卖馆", "帮助销售", "辣椒", "甘谷线椒（干）", "CHL-LINE-500G",
     "甘谷线椒专业合作社", "磐安镇", "华明扶贫展卖馆", 3, "84.00", "是", f"{CERT}-003"],
    [date(YEAR, 2, 3), "counter-sale:1", "销售", "扶贫展卖馆", "帮助销售", "高原夏菜", "高原夏菜", "VEG-HL-10KG",
     "高原夏菜专业合作社", "大石镇", "华明扶贫展卖馆", 1, "45.00", "否", ""],
    [date(YEAR, 2, 20), "order:2", "销售", "单位采购", "直接采购", "手工麻鞋", "手工麻鞋", "SHOE-HEMP-40",
     "甘谷麻鞋手工制品有限公司", "礼辛镇", "", 10, "980.00", "是", f"{CERT}-007"],
    [date(YEAR, 3, 5), "counter-sale:2", "销售", "展会展销", "帮助销售", "花椒", "花椒粉", "PEP-PWD-100G",
     "甘谷椒香调味品有限公司", "六峰镇", "津洽会甘谷展位", 2, "36.00", "否", ""],
    [date(YEAR, 3, 10), "refund:1", "退款冲减", "线上商城", "帮助销售", "水果", "花牛苹果", "APL-HN-5KG",
     "花牛苹果专业合作社", "安远镇", "", -1, "-68.00", "是", f"{CERT}-001"],
]  # fmt: skip
TOTAL = ["合计", "", "", "", "", "", "", "", "", "", "", 17, "1213.00", "", ""]


def _url(fmt: str, query: str = "") -> str:
    return f"/api/v1/aid/programmes/{CODE}/export?format={fmt}{query}"


def test_csv_export_cell_by_cell(officer_api, known_set):
    r = officer_api.get(_url("csv"))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="aid-{CODE}-{YEAR}0101-{YEAR}1231.csv"' in r.headers["Content-Disposition"]
    text = r.get_data().decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the BOM to read UTF-8 Chinese
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    expected = [HEADERS] + [
        [str(c) if not isinstance(c, date) else c.isoformat() for c in row] for row in ROWS
    ]
    expected.append([str(c) for c in TOTAL])
    assert rows == expected


def test_csv_export_for_a_range(officer_api, known_set):
    r = officer_api.get(_url("csv", f"&from={YEAR}-02-01&to={YEAR}-02-28"))
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8").removeprefix("\ufeff"))))
    assert [row[1] for row in rows[1:-1]] == ["counter-sale:1", "counter-sale:1", "order:2"]
    assert rows[-1][12] == "1109.00"


def test_xlsx_export_cell_by_cell(officer_api, known_set):
    r = officer_api.get(_url("xlsx"))
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(r.get_data()))
    assert wb.sheetnames == ["汇总", "明细"]
    detail = [[c if c is not None else "" for c in row] for row in wb["明细"].iter_rows(values_only=True)]
    assert detail[0] == HEADERS
    for got, want in zip(detail[1:], [*ROWS, TOTAL], strict=True):
        want = list(want)
        if isinstance(want[0], date):
            want[0] = datetime.combine(want[0], datetime.min.time())
        want[12] = Decimal(want[12])
        assert got == want
    assert wb["明细"]["M2"].number_format == "#,##0.00"
    summary = {row[0]: row[1:] for row in wb["汇总"].iter_rows(values_only=True) if row and row[0]}
    assert summary["消费帮扶金额（元）"][0] == Decimal("1213.00")
    assert summary["其中：认定扶贫产品（元）"][0] == Decimal("1132.00")
    assert summary["非认定产品（元）"][0] == Decimal("81.00")
    assert summary["直接采购（元）"][0] == Decimal("980.00")
    assert summary["帮助销售（元）"][0] == Decimal("152.00")
    assert summary["带动生产主体（家）"][0] == 3
    assert summary["联结建档立卡贫困户（户）"][0] == 516
    assert summary["单位采购"][:2] == (Decimal("980.00"), Decimal("980.00"))
    assert summary["扶贫展卖馆"][:2] == (Decimal("129.00"), Decimal("84.00"))
    assert summary["六峰镇"][:2] == (Decimal("36.00"), Decimal("0.00"))


def test_export_limits_are_clear_422s(officer_api, known_set, monkeypatch):
    r = officer_api.get(_url("pdf"))
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "format"
    r = officer_api.get(_url("csv", f"&from={YEAR}-05-01&to={YEAR}-04-01"))
    assert r.status_code == 422 and r.json["type"].endswith("bad-date-range")
    r = officer_api.get(_url("csv", f"&from={YEAR - 1}-01-01"))
    assert r.status_code == 422
    assert officer_api.get("/api/v1/aid/programmes/NOPE/export?format=csv").status_code == 404
    monkeypatch.setattr(exports, "MAX_ROWS", {"csv": 5, "xlsx": 5})
    r = officer_api.get(_url("xlsx"))
    assert (
        r.status_code == 422 and r.json["type"].endswith("export-too-large") and "narrow" in r.json["detail"]
    )
    assert officer_api.get(_url("csv", f"&to={YEAR}-02-28")).status_code == 200  # 4 rows fit


def test_export_of_more_than_366_days_is_refused(officer_api, seeded):
    body = {
        "code": "FIVE-YEAR",
        "name": "五年规划",
        "name_en": "Five-year plan",
        "starts_on": f"{YEAR + 1}-01-01",
        "ends_on": f"{YEAR + 5}-12-31",
        "target_fen": 100,
    }
    assert officer_api.post("/api/v1/aid/programmes", json=body).status_code == 201
    r = officer_api.get("/api/v1/aid/programmes/FIVE-YEAR/export?format=csv")  # the whole period by default
    assert r.status_code == 422 and r.json["type"].endswith("range-too-long")
    r = officer_api.get(
        f"/api/v1/aid/programmes/FIVE-YEAR/export?format=csv&from={YEAR + 1}-01-01&to={YEAR + 2}-01-05"
    )
    assert r.status_code == 422
    r = officer_api.get(
        f"/api/v1/aid/programmes/FIVE-YEAR/export?format=csv&from={YEAR + 1}-01-01&to={YEAR + 1}-12-31"
    )
    assert r.status_code == 200
    # Totals, read from rollups, may span the whole period.
    assert officer_api.get("/api/v1/aid/programmes/FIVE-YEAR/totals").status_code == 200
