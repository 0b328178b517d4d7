"""In headless Chromium: an admin invites a hall operator, who sets a password from the emailed link,
signs in and lands on their hall; deactivation ends their session at once.

With DOCS_SCREENSHOTS=1 the pages are saved to docs/img/ for docs/people.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.accounts.helpers import inline_tasks, last_link_token
from tests.browser_support import browser, live_server  # noqa: F401  (pytest fixtures)
from tests.conftest import create_user

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page, name: str, tmp_path: Path) -> None:
    folder = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


@pytest.mark.browser
def test_invite_set_password_land_and_deactivate(seeded, live_server, browser, tmp_path):  # noqa: F811
    create_user("admin@dongli.gov.cn", role="admin")
    contexts = [
        browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800}),  # office PC
        browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768}),  # hall tablet
    ]
    try:
        admin, operator = (c.new_page() for c in contexts)
        for p in (admin, operator):
            p.set_default_timeout(15_000)
        admin.goto(live_server + "/login")
        admin.fill("input[name=email]", "admin@dongli.gov.cn")
        admin.fill("input[name=password]", "password-123")
        admin.click("#login-form button[type=submit]")
        admin.click("header nav a[href='/admin/people/']")
        expect(admin.locator("h1")).to_have_text("人员")
        admin.click("a[href='/admin/people/invite']")
        admin.fill("input[name=email]", "wang.fang@dongli.gov.cn")
        admin.fill("input[name=name]", "王芳")
        admin.select_option("select[name=role]", "operator")
        admin.click("#invite-form button[type=submit]")
        expect(admin.locator("#locations-error")).to_contain_text("请为操作员至少选择一个展馆")
        _shot(admin, "people-invite-errors.png", tmp_path)
        admin.check("input[name=locations][value=DL-HM]")
        with inline_tasks(seeded):
            admin.click("#invite-form button[type=submit]")
            expect(admin.locator(".flash.ok")).to_contain_text("wang.fang@dongli.gov.cn")
        _shot(admin, "people-list.png", tmp_path)

        operator.goto(f"{live_server}/password/set?token={last_link_token('wang.fang@dongli.gov.cn')}")
        expect(operator).to_have_url(live_server + "/password/set")  # the token left the address bar
        operator.fill("input[name=password]", "huaming-2026")
        operator.fill("input[name=confirm]", "huaming-2026!")
        operator.click("#set-password-form button[type=submit]")
        expect(operator.locator("#confirm-error")).to_contain_text("两次输入的密码不一致")
        _shot(operator, "set-password.png", tmp_path)
        operator.fill("input[name=password]", "huaming-2026")
        operator.fill("input[name=confirm]", "huaming-2026")
        operator.click("#set-password-form button[type=submit]")
        expect(operator.locator(".flash.ok")).to_contain_text("密码已设置")
        operator.fill("input[name=email]", "wang.fang@dongli.gov.cn")
        operator.fill("input[name=password]", "huaming-2026")
        operator.click("#login-form button[type=submit]")
        expect(operator).to_have_url(live_server + "/console/DL-HM/")

        admin.fill("#people-search input[name=q]", "王芳")
        admin.click("#people-search button[type=submit]")
        admin.click("#people-list a:has-text('编辑')")
        expect(admin.locator("h1")).to_contain_text("王芳")
        admin.click("#deactivate-form button")
        expect(admin.locator("#person-status")).to_have_text("已停用")
        _shot(admin, "people-edit.png", tmp_path)
        operator.reload()
        expect(operator).to_have_url(f"{live_server}/login?next=%2Fconsole%2FDL-HM%2F")
    finally:
        for c in contexts:
            c.close()
