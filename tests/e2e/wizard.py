"""Guide §3 and §4 in the browser: the six-step application wizard, filled as an applicant would, and
the first login."""

import re

from playwright.sync_api import Page, expect

from .conftest import Screenshots


def _fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = page.locator(f'[name="{name}"]:visible')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def fill_wizard(page: Page, gateway: str, shots: Screenshots, *, email: str, company: str) -> None:
    """From 基本情報入力 to 確認メール送信, with one destination of two units and one login user."""
    page.goto(f"{gateway}/signup")
    expect(page.get_by_text("基本情報入力").first).to_be_visible()
    _fill(
        page,
        {
            "company.company_name": company,
            "company.last_name": "日電",
            "company.first_name": "太郎",
            "company.department": "総務部",
            "company.position": "課長",
            "company.email": email,
            "company.email_confirmation": email,
            "company.postal_code": "2118666",
            "company.prefecture": "神奈川県",
            "company.address": "川崎市中原区下沼部1753",
            "company.phone": "0441234567",
        },
    )
    shots(page, "signup-basic")
    page.locator("section[data-step='1'] [data-action='next']").click()

    # ② UTM送付先入力: copy the basic information, two units.
    step2 = page.locator("section[data-step='2']")
    expect(step2).to_be_visible()
    step2.get_by_role("button", name="基本情報と同じ").first.click()
    step2.locator('[name$=".units"]').first.fill("2")
    shots(page, "signup-destination")
    step2.locator("[data-action='next']").click()

    # ③ 追加情報入力: the default chamber-of-commerce questions.
    step3 = page.locator("section[data-step='3']")
    if step3.is_visible():
        step3.get_by_label("非会員").check()
        shots(page, "signup-additional")
        step3.locator("[data-action='next']").click()

    # ④ ログインユーザ情報入力.
    step4 = page.locator("section[data-step='4']")
    expect(step4).to_be_visible()
    _fill(
        page,
        {
            "login_users.0.last_name": "日電",
            "login_users.0.first_name": "太郎",
            "login_users.0.email": email,
            "login_users.0.email_confirmation": email,
            "login_users.0.mobile": "09012345678",
        },
    )
    shots(page, "signup-login-user")
    step4.locator("[data-action='next']").click()

    # ⑤ 確認, with the dialog before 申込み.
    step5 = page.locator("section[data-step='5']")
    expect(step5).to_be_visible()
    expect(step5).to_contain_text(company)
    shots(page, "signup-review")
    page.once("dialog", lambda dialog: dialog.accept())
    step5.get_by_role("button", name="申込み").click()

    # ⑥ 確認メール送信.
    expect(page.get_by_test_id("application-number")).to_have_text(
        re.compile(r"^AAP-[A-Z0-9]{8}$"), timeout=20_000
    )
    # The link's deadline in the portal's one format, Japan time: YYYY/MM/DD HH:MM.
    expect(page.locator("[data-sent='expires_at']")).to_have_text(
        re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}$")
    )
    shots(page, "signup-mail-sent")


def log_in(page: Page, gateway: str, login_id: str, password: str) -> None:
    page.goto(f"{gateway}/login")
    page.get_by_label("ユーザID", exact=True).fill(login_id)
    page.get_by_label("パスワード", exact=True).fill(password)
    page.get_by_role("button", name="ログイン").click()


def first_login(
    page: Page,
    gateway: str,
    *,
    login_id: str,
    temporary: str,
    new_password: str,
    email: str,
    shots: Screenshots | None = None,
) -> None:
    """Guide §4 ②–⑤: temporary credentials, new password, the user's own address as user ID,
    2段階認証 利用しない; ends on the dashboard."""
    log_in(page, gateway, login_id, temporary)

    expect(page.get_by_role("heading", name="パスワード変更")).to_be_visible()
    page.get_by_label("新しいパスワード", exact=True).fill(new_password)
    page.get_by_label("新しいパスワード(確認)").fill(new_password)
    page.get_by_role("button", name="変更").click()

    expect(page.get_by_role("heading", name="ユーザID設定")).to_be_visible()
    page.get_by_label("新しいユーザID").fill(email)
    page.get_by_role("button", name="設定").click()

    expect(page.get_by_role("heading", name="2段階認証設定")).to_be_visible()
    page.get_by_label("利用しない", exact=True).check()
    expect(page.locator("#method-section")).to_be_hidden()
    if shots is not None:
        shots(page, "customer-two-step-off")
    page.once("dialog", lambda dialog: dialog.accept())  # 「2段階認証を利用しない設定にします…」
    page.get_by_role("button", name="次へ").click()
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
