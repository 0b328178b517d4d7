from datetime import date, timedelta

import pytest

from shop.catalog.models import AidCertificate, Producer
from shop.core import clock
from shop.core.db import atomic, db


def test_product_list_pages_and_totals(seeded, api):
    r = api.get("/api/v1/products?per_page=5")
    assert r.status_code == 200
    body = r.json
    assert body["total"] == 11
    assert body["page"] == 1 and body["per_page"] == 5
    assert len(body["items"]) == 5
    second = api.get("/api/v1/products?per_page=5&page=3").json
    assert len(second["items"]) == 1
    ids = {p["id"] for p in body["items"]} | {p["id"] for p in second["items"]}
    assert len(ids) == 6


def test_page_beyond_the_end_is_empty(seeded, api):
    r = api.get("/api/v1/products?page=50")
    assert r.status_code == 200
    assert r.json["items"] == [] and r.json["total"] == 11


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "page=0", "page=-1", "per_page=abc"])
def test_pagination_bounds_are_422_problems(seeded, api, query):
    r = api.get(f"/api/v1/products?{query}")
    assert r.status_code == 422
    assert r.content_type == "application/problem+json"
    assert r.json["status"] == 422 and r.json["errors"]
    assert {"type", "title", "status", "detail"} <= set(r.json)


def test_filters_category_township_producer_and_search(seeded, api):
    chili = api.get("/api/v1/products?category=chili").json
    assert {p["slug"] for p in chili["items"]} == {"line-chili", "chili-flakes", "chili-oil"}
    anyuan = api.get("/api/v1/products?township=安远镇").json
    assert {p["slug"] for p in anyuan["items"]} == {"huaniu-apples", "fuji-apples"}
    assert api.get("/api/v1/products?township=Anyuan").json["total"] == 2
    producer_id = anyuan["items"][0]["producer"]["id"]
    by_producer = api.get(f"/api/v1/products?producer={producer_id}").json
    assert by_producer["total"] == 2
    assert {p["slug"] for p in api.get("/api/v1/products?q=麻鞋").json["items"]} == {
        "hemp-shoes",
        "hemp-shoes-leather",
    }
    assert api.get("/api/v1/products?q=HEMP").json["total"] == 2


@pytest.mark.parametrize("query", ["category=nonsense", "producer=abc", "producer=0", "q=" + "x" * 101])
def test_bad_filters_are_422(seeded, api, query):
    r = api.get(f"/api/v1/products?{query}")
    assert r.status_code == 422, r.json
    assert r.content_type == "application/problem+json"


def test_product_detail_has_variants_availability_and_certificate(seeded, api):
    listing = api.get("/api/v1/products?q=hemp shoes, leather").json["items"]
    pid = api.get("/api/v1/products?category=shoes").json["items"][0]["id"]
    r = api.get(f"/api/v1/products/{pid}")
    assert r.status_code == 200
    p = r.json
    assert listing is not None
    skus = {v["sku"]: v for v in p["variants"]}
    assert set(skus) == {"SHOE-HEMP-38", "SHOE-HEMP-40", "SHOE-HEMP-42"}
    v = skus["SHOE-HEMP-40"]
    assert v["price_fen"] == 9800 and v["currency"] == "CNY" and v["perishable"] is False
    # Seeded stock: 200 at the warehouse + 20 at each of 8 halls.
    assert v["available"] == 360
    producer = p["producer"]
    assert producer["township"] == "礼辛镇"
    assert producer["linked_households"] == 180
    assert producer["certificate"]["number"].startswith("GGFP-")
    assert date.fromisoformat(producer["certificate"]["valid_until"]) >= clock.today()


def test_certificate_is_null_without_a_valid_one(seeded, api):
    powder = api.get("/api/v1/products?q=花椒粉").json["items"][0]
    assert powder["producer"]["certificate"] is None  # expired last year
    veg = api.get("/api/v1/products?category=vegetables").json["items"][0]
    assert veg["producer"]["certificate"] is None  # never certified


def test_certificate_validity_boundaries(seeded, api):
    producer = db.session.query(Producer).filter_by(code="huajiao-coop").one()
    with atomic():
        for cert in producer.certificates:
            db.session.delete(cert)
        db.session.add(
            AidCertificate(
                producer_id=producer.id,
                number="T-1",
                issuer="x",
                valid_from=clock.today() - timedelta(days=10),
                valid_until=clock.today() - timedelta(days=1),
            )
        )
    db.session.expire_all()
    pid = api.get("/api/v1/products?q=大红袍").json["items"][0]["id"]
    assert api.get(f"/api/v1/products/{pid}").json["producer"]["certificate"] is None
    with atomic():
        db.session.add(
            AidCertificate(
                producer_id=producer.id,
                number="T-2",
                issuer="x",
                valid_from=clock.today(),
                valid_until=clock.today(),
            )
        )
    db.session.expire_all()
    assert api.get(f"/api/v1/products/{pid}").json["producer"]["certificate"]["number"] == "T-2"


def test_unknown_product_is_404_problem(seeded, api):
    r = api.get("/api/v1/products/999999")
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"
    assert r.json["status"] == 404 and "999999" in r.json["detail"]


def test_unknown_api_path_is_problem_not_html(seeded, api):
    r = api.get("/api/v1/nope")
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    r = api.client.delete("/api/v1/products")
    assert r.status_code == 405 and r.content_type == "application/problem+json"


def test_producers_and_locations(seeded, api):
    producers = api.get("/api/v1/producers?per_page=100").json
    assert producers["total"] == 8
    coop = next(p for p in producers["items"] if p["name"] == "花牛苹果专业合作社")
    assert coop["linked_households"] == 126 and coop["benefit_mechanism"]
    locations = api.get("/api/v1/locations").json["items"]
    kinds = [loc["kind"] for loc in locations]
    assert kinds.count("hall") == 8 and kinds.count("warehouse") == 1 and kinds.count("fair") == 1
    hall = next(loc for loc in locations if loc["code"] == "DL-HM")
    assert hall["pickup"] is True and hall["district"]
    halls = api.get("/api/v1/locations?kind=hall").json["items"]
    assert len(halls) == 8
    assert api.get("/api/v1/locations?kind=moon").status_code == 422


def test_openapi_document_is_generated(seeded, api):
    r = api.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/products",
        "/api/v1/products/{product_id}",
        "/api/v1/producers",
        "/api/v1/locations",
        "/api/v1/auth/register",
        "/api/v1/auth/token",
    ):
        assert path in doc["paths"], path
