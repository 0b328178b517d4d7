"""Aid pages: the officers' dashboard with inline-SVG charts, the off-shop queue, the public progress page."""

from __future__ import annotations

import csv
import io
import re

from tests.aid.conftest import CODE, YEAR
from tests.conftest import create_user, sign_in_session


def _login(client, email: str) -> None:
    """Sign in through the session cookie, as Flask-Login does after the sign-in form.

    (The form itself is tested in tests/accounts; going through it here would spend the sign-in rate
    limit, which another test module may have switched on for the whole process.)
    """
    from shop.accounts.services import find_user_by_email

    sign_in_session(client, find_user_by_email(email))


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_dashboard_shows_the_known_figures_and_charts_without_cdn_or_inline_styles(
    client, officers, known_set
):
    from shop.aid.reconcile import reconcile

    reconcile(trigger="test")
    _login(client, officers[0])
    r = client.get("/aid/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "¥1,132.00" in html and "¥1,213.00" in html  # counted and all recorded
    assert (
        'id="non-qualifying">¥81.00' in html
        and 'id="direct">¥980.00' in html
        and 'id="helped">¥152.00' in html
    )
    assert 'id="producers">3<' in html and 'id="households">516<' in html
    for chart in ("month", "channel", "category", "township", "producer", "certified"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") >= 7 and "扶贫展卖馆" in html and "磐安镇" in html
    assert "style=" not in html and "<script" not in html
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not ref.startswith(("http://", "https://", "//")), ref
    assert 'id="reconciliation-status" class="flash ok"' in html
    assert "format=xlsx" in html and "format=csv" in html
    assert "aid/progress" in html and "/aid/offshop" in html


def test_dashboard_range_and_bad_dates(client, officers, known_set):
    _login(client, officers[0])
    html = client.get(f"/aid/?from={YEAR}-02-01&to={YEAR}-02-28").get_data(as_text=True)
    assert "¥1,109.00" in html  # February only
    r = client.get(f"/aid/?from={YEAR}-03-01&to={YEAR}-02-01")
    assert r.status_code == 200 and "flash error" in r.get_data(as_text=True)
    r = client.get("/aid/?from=not-a-date")
    assert r.status_code == 200 and "YYYY-MM-DD" in r.get_data(as_text=True)
    assert client.get("/aid/?programme=NOPE").status_code == 404


def test_dashboard_download_buttons(client, officers, known_set):
    _login(client, officers[0])
    r = client.get(f"/aid/export?programme={CODE}&format=csv&from={YEAR}-01-01&to={YEAR}-01-31")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8").removeprefix("\ufeff"))))
    assert rows[0][12] == "消费帮扶金额（元）" and rows[1][1] == "order:1" and rows[-1][12] == "136.00"
    r = client.get(f"/aid/export?programme={CODE}&format=xlsx")
    assert r.status_code == 200 and r.data[:2] == b"PK"


def test_staff_pages_are_for_officers_only(client, seeded):
    assert client.get("/aid/").status_code == 302  # to the sign-in page
    create_user("buyer@example.cn")
    _login(client, "buyer@example.cn")
    for url in ("/aid/", "/aid/offshop", "/aid/work-units", f"/aid/export?programme={CODE}&format=csv"):
        r = client.get(url)
        assert r.status_code == 403 and r.mimetype == "text/html", url
    assert "Aid dashboard" not in client.get("/?lang=en").get_data(as_text=True)


def test_offshop_queue_record_then_approve_by_a_second_officer(app, officers):
    first, second = app.test_client(), app.test_client()
    _login(first, officers[0])
    page = first.get("/aid/offshop").get_data(as_text=True)
    assert 'id="offshop-form"' in page and "style=" not in page
    from tests.aid.test_offshop import DAY

    form = {
        "csrf_token": _csrf(page),
        "channel": "charity_sale",
        "evidence_kind": "receipt",
        "evidence_number": "YM-2026-09",
        "sold_on": DAY.isoformat(),
        "location": "",
        "buyer_name": "",
        "sku_1": "SHOE-HEMP-40",
        "quantity_1": "3",
        "amount_1": "294.00",
        "note": "爱心义卖",
    }
    r = first.post("/aid/offshop", data=form)
    assert r.status_code == 302
    page = first.get("/aid/offshop").get_data(as_text=True)
    assert "YM-2026-09" in page and "须由另一位专员审核" in page  # the recorder cannot approve it
    r = first.post("/aid/offshop", data=form)  # the same receipt again
    assert r.status_code == 200 and "cannot count twice" in r.get_data(as_text=True)
    _login(second, officers[1])
    page = second.get("/aid/offshop").get_data(as_text=True)
    sale_id = re.search(r"/aid/offshop/(\d+)/approve", page).group(1)
    r = second.post(f"/aid/offshop/{sale_id}/approve", data={"csrf_token": _csrf(page)})
    assert r.status_code == 302
    html = second.get("/aid/").get_data(as_text=True)
    assert 'id="total">¥294.00' in html


def test_public_progress_page_has_only_the_total_and_progress(client, known_set):
    html = client.get("/aid/progress").get_data(as_text=True)
    assert ("¥1,132.00" in html and "0.00%" in html) or "0.02%" in html
    for private in ("canteen", "机关食堂", "@", "order:", "花牛苹果专业合作社"):
        assert private not in html.split("<main>")[1], private
    assert "style=" not in html
    assert client.get("/aid/progress?programme=NOPE").status_code == 404


def test_work_units_page(client, officers, known_set):
    _login(client, officers[0])
    html = client.get("/aid/work-units").get_data(as_text=True)
    assert "东丽区机关食堂" in html and "980.00" in html
