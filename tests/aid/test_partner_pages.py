"""The officers' partner-platform pages: upload, watch the progress, see rejected rows, void."""

from __future__ import annotations

import io
import re
from datetime import date

from shop.aid import imports
from shop.core import clock
from tests.conftest import create_user, sign_in_session

YEAR = clock.today().year


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_upload_progress_rejected_rows_and_void(client, seeded):
    officer = create_user("pages-officer@aid.gov.cn", role="aid_officer")
    sign_in_session(client, officer)
    page = client.get("/aid/imports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "GG-JD" in html and "平台订单号" in html
    day = date(YEAR, 1, 5).isoformat()
    content = (
        f"订单号,行号,日期,商品编码,数量,金额（分）\nJD-1,1,{day},CHL-LINE-500G,1,2800\nJD-2,1,{day},X,1,1\n"
    )
    r = client.post(
        "/aid/imports",
        data={
            "csrf_token": _csrf(html),
            "platform": "GG-JD",
            "file": (io.BytesIO(content.encode()), "jd.csv"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    url = r.headers["Location"]
    queued = client.get(url).get_data(as_text=True)
    assert 'http-equiv="refresh"' in queued and 'id="import-progress"' in queued
    import_id = int(url.rstrip("/").rsplit("/", 1)[1])
    imports.process_import(import_id)
    done = client.get(url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done
    assert 'id="accepted">1<' in done and 'id="rejected">1<' in done
    assert "unknown SKU" in done
    r = client.post(f"/aid/imports/{import_id}/void", data={"csrf_token": _csrf(done), "reason": "test"})
    assert r.status_code == 302
    voided = client.get(url).get_data(as_text=True)
    assert 'id="void-form"' not in voided
    assert client.get("/aid/").status_code == 200


def test_bad_file_is_refused_on_the_page(client, seeded):
    officer = create_user("pages-officer2@aid.gov.cn", role="aid_officer")
    sign_in_session(client, officer)
    html = client.get("/aid/imports").get_data(as_text=True)
    r = client.post(
        "/aid/imports",
        data={"csrf_token": _csrf(html), "platform": "GG-JD", "file": (io.BytesIO(b"a,b\n"), "x.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert r.status_code == 200
    assert "platform_order_id" in r.get_data(as_text=True)
