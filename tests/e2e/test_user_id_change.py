"""ユーザ情報 → ユーザID変更 in a real browser: the new address becomes the user ID only with the code
mailed to it (issue 8: user ID = email, proven)."""

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from support.events import application_for
from support.kafka import send
from support.maildir import wait_for_mail
from support.processes import Stack
from support.servers import Servers

from .wizard import first_login, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PASSWORD = "Kawasaki#2026"
# Like the page's own default: a busy machine answers a form post in more than expect's 5 s.
expect.set_options(timeout=20_000)


def provision(servers: Servers, email: str) -> tuple[str, str]:
    """An application naming ``email`` as login user; the user ID and password of its mail."""
    event = application_for(email, first_name="花子")

    # Playwright's sync API keeps an event loop running in this thread: publish from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(
            asyncio.run, send(servers.kafka, [(event.TOPIC, b"e2e", event.model_dump_json().encode())])
        ).result(timeout=60)
    mail = wait_for_mail(servers.maildir, to=email, subject_contains="仮登録完了のお知らせ", timeout=60)
    return mail.value("ユーザID"), mail.value("仮パスワード")


def test_user_id_change_with_the_mailed_code(portal: Stack, servers: Servers, page: Page) -> None:
    gateway = portal.services["gateway"].url
    tag = uuid.uuid4().hex[:8]
    email, new_email = f"hanako.{tag}@example.com", f"hanako.new.{tag}@example.com"
    login_id, temporary = provision(servers, email)

    # First login: password, the user's own address as user ID (already proven by the mail), no 2FA.
    first_login(page, gateway, login_id=login_id, temporary=temporary, new_password=PASSWORD, email=email)

    # ユーザ情報 → ユーザID変更: a new address gets a code; nothing changes before it is entered.
    page.get_by_role("link", name="ユーザ情報").first.click()
    page.get_by_role("link", name="ユーザID変更").click()
    expect(page.get_by_role("heading", name="ユーザID設定")).to_be_visible()
    page.get_by_label("新しいユーザID").fill(new_email)
    page.get_by_role("button", name="設定").click()
    expect(page.get_by_role("heading", name="確認コード入力")).to_be_visible()
    expect(page.get_by_test_id("user-id-pending")).to_have_text(new_email)
    mail = wait_for_mail(
        servers.maildir, to=new_email, subject_contains="ユーザID設定の確認コード", timeout=60
    )
    code = re.search(r"確認コード : (\d{6})", mail.text)
    assert code is not None, mail.text

    page.get_by_label("確認コード").fill("000000" if code.group(1) != "000000" else "111111")
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_role("alert")).to_contain_text("確認コードが正しくありません。")
    page.goto(f"{gateway}/users")
    expect(page.get_by_role("main")).to_contain_text(email)
    expect(page.get_by_role("main")).not_to_contain_text(new_email)

    page.goto(f"{gateway}/account/user-id/confirm")
    page.get_by_label("確認コード").fill(code.group(1))
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_text("ユーザIDを設定しました。")).to_be_visible()
    page.get_by_role("link", name="ユーザ情報へ戻る").click()
    expect(page.get_by_role("main")).to_contain_text(new_email)

    # From now on the new address is the user ID; the old one no longer logs in.
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_text("ログアウトしました。")).to_be_visible()
    log_in(page, gateway, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("ユーザIDまたはパスワードが正しくありません。")
    log_in(page, gateway, new_email, PASSWORD)
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
