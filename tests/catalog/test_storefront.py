import re

from shop.core.web import yuan


def test_home_is_chinese_first_with_categories_and_progress_banner(seeded, client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "水果" in html and "花椒" in html
    assert "东丽区对口帮扶甘谷县消费帮扶" in html  # programme banner
    # What buyers' purchases did this year, not a near-zero percentage of the target (issue 15).
    assert "今年，像您一样的顾客已购买甘谷产品 ¥0.00" in html
    assert "带动 0 家生产主体" in html and "联结 0 户建档立卡贫困户" in html
    assert "¥50,000,000.00" not in html
    assert "全部商品" in html  # translated navigation


def test_english_is_switchable_and_remembered(seeded, client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "All products" in html and "Huaniu apples" in html
    html = client.get("/products").get_data(as_text=True)
    assert 'lang="en"' in html
    html = client.get("/products?lang=zh").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "花牛苹果" in html


def test_accept_language_english(seeded, client):
    html = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in html


def test_product_page_tells_producer_story_township_and_certificate(seeded, client):
    html = client.get("/products/hemp-shoes").get_data(as_text=True)
    assert "甘谷麻鞋手工制品有限公司" in html
    assert "礼辛镇" in html
    assert re.search(r"GGFP-\d{4}-\d{3}", html)
    assert "一双鞋要编上两天" in html
    assert "¥98.00" in html


def test_product_without_certificate_says_it_is_not_counted(seeded, client):
    html = client.get("/products/pepper-powder?lang=en").get_data(as_text=True)
    assert "not counted as consumption aid" in html


def test_product_list_filters_by_category(seeded, client):
    html = client.get("/products?category=shoes").get_data(as_text=True)
    assert "手工麻鞋" in html and "花牛苹果" not in html


def test_unknown_product_page_is_html_404(seeded, client):
    r = client.get("/products/no-such-thing")
    assert r.status_code == 404 and r.content_type.startswith("text/html")


def test_pages_use_no_outside_assets(seeded, client):
    for url in ("/", "/products", "/products/huaniu-apples", "/login", "/register"):
        html = client.get(url).get_data(as_text=True)
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not ref.startswith(("http://", "https://", "//")), (url, ref)
    css = client.get("/static/shop.css")
    assert css.status_code == 200


def test_yuan_formatting():
    assert yuan(6800) == "68.00"
    assert yuan(5) == "0.05"
    assert yuan(5_000_000_000) == "50,000,000.00"
    assert yuan(-150) == "-1.50"
