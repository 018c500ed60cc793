"""The application wizard in headless Chromium, over real signup and gateway processes."""

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from support.processes import ARTIFACTS, Stack
from support.servers import Servers

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "signup-wizard"

BASIC = {
    "company.company_name": "日本電気株式会社",
    "company.last_name": "日電",
    "company.first_name": "太郎",
    "company.email": "wizard@example.com",
    "company.email_confirmation": "wizard@example.com",
    "company.postal_code": "211-8666",
    "company.prefecture": "神奈川県",
    "company.address": "川崎市中原区下沼部1753",
    "company.phone": "044-123-4567",
}
USER = {
    "login_users.0.last_name": "日電",
    "login_users.0.first_name": "花子",
    "login_users.0.email": "hanako@example.com",
    "login_users.0.email_confirmation": "hanako@example.com",
}


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    stack = Stack(servers)
    stack.add("signup")
    stack.add("gateway", GATEWAY_COOKIE_SECURE="false")
    stack.services["signup"].env["SIGNUP_PUBLIC_URL"] = stack.services["gateway"].url
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = page.locator(f'[name="{name}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def _message(page: Page, path: str) -> str:
    return page.locator(f'[data-error-for="{path}"]').inner_text()


def _step(page: Page, n: int) -> Locator:
    return page.locator(f"section[data-step='{n}']")


def test_the_wizard_guides_the_applicant_through_six_steps(stack: Stack, page: Page) -> None:
    gateway = stack.services["gateway"].url
    page.goto(f"{gateway}/signup")
    expect(page.locator("[data-progress='1']")).to_have_class(re.compile("current"))

    # ① Empty form: a Japanese message beside each required field.
    _step(page, 1).locator("[data-action='next']").click()
    assert _message(page, "company.company_name") == "会社名を入力してください。"
    assert _message(page, "company.last_name") == "姓を入力してください。"
    _fill(page, {**BASIC, "company.email_confirmation": "other@example.com"})
    _step(page, 1).locator("[data-action='next']").click()
    assert _message(page, "company.email_confirmation") == "メールアドレスが一致しません。"
    _shot(page, "1-basic-errors")
    _fill(page, {"company.email_confirmation": "wizard@example.com"})
    _step(page, 1).locator("[data-action='next']").click()

    # ② Copy the basic information, then too many units over two destinations.
    expect(_step(page, 2)).to_be_visible()
    page.get_by_role("button", name="基本情報と同じ").click()
    expect(page.locator('[name="destinations.0.company_name"]')).to_have_value("日本電気株式会社")
    expect(page.locator('[name="destinations.0.postal_code"]')).to_have_value("211-8666")
    page.get_by_role("button", name="+ 追加").click()
    page.locator(".destination[data-index='1']").get_by_role("button", name="基本情報と同じ").click()
    _fill(page, {"destinations.0.units": "6", "destinations.1.units": "5"})
    _step(page, 2).locator("[data-action='next']").click()
    assert _message(page, "destinations") == "台数は合計10台までです（現在11台）。"
    _shot(page, "2-destinations-too-many")
    page.locator(".destination[data-index='1']").get_by_role("button", name="削除").click()
    expect(page.locator(".destination")).to_have_count(1)
    _step(page, 2).locator("[data-action='next']").click()

    # ③ A member must give the member number.
    expect(_step(page, 3)).to_be_visible()
    _step(page, 3).get_by_label("会員", exact=True).check()
    _step(page, 3).locator("[data-action='next']").click()
    assert _message(page, "answers.member_number") == "この項目を入力してください。"
    _step(page, 3).get_by_label("非会員").check()
    _step(page, 3).locator("[data-action='next']").click()

    # ④ 戻る keeps what was typed, also across a reload.
    expect(_step(page, 4)).to_be_visible()
    _fill(page, USER)
    _step(page, 4).locator("[data-action='back']").click()
    expect(_step(page, 3).get_by_label("非会員")).to_be_checked()
    _step(page, 3).locator("[data-action='back']").click()
    _step(page, 2).locator("[data-action='back']").click()
    expect(page.locator('[name="company.company_name"]')).to_have_value("日本電気株式会社")
    page.reload()
    expect(page.locator('[name="company.phone"]')).to_have_value("044-123-4567")
    for n in (1, 2, 3):
        _step(page, n).locator("[data-action='next']").click()
    expect(page.locator('[name="login_users.0.email"]')).to_have_value("hanako@example.com")
    _step(page, 4).get_by_role("button", name="確認").click()

    # ⑤ Everything on one page; cancelling the dialog sends nothing.
    review = _step(page, 5)
    expect(review).to_contain_text("日本電気株式会社")
    expect(review).to_contain_text("2118666")
    expect(review).to_contain_text("0441234567")
    expect(review).to_contain_text("非会員")
    expect(review).to_contain_text("hanako@example.com")
    _shot(page, "5-review")
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    review.get_by_role("button", name="申込み").click()
    expect(review).to_be_visible()
    assert dialogs == ["入力した内容で申込みます。よろしいですか？"]

    # ⑥ Accepted: the mail went to the basic-information address.
    page.once("dialog", lambda dialog: dialog.accept())
    review.get_by_role("button", name="申込み").click()
    expect(_step(page, 6)).to_be_visible()
    expect(page.get_by_test_id("sent-message")).to_contain_text(
        "wizard@example.com 宛に申込み確認メールを送信しました。"
    )
    number = page.get_by_test_id("application-number").inner_text()
    assert re.fullmatch(r"AAP-[A-HJKMNP-Z2-9]{8}", number)
    _shot(page, "6-sent")


def test_messages_from_the_server_are_shown_beside_the_field(stack: Stack, page: Page) -> None:
    gateway = stack.services["gateway"].url
    page.goto(f"{gateway}/signup")
    _fill(page, BASIC)
    _step(page, 1).locator("[data-action='next']").click()
    page.get_by_role("button", name="基本情報と同じ").click()
    _step(page, 2).locator("[data-action='next']").click()
    _step(page, 3).get_by_label("非会員").check()
    _step(page, 3).locator("[data-action='next']").click()
    _fill(page, USER)
    _step(page, 4).locator("[data-action='next']").click()
    expect(_step(page, 5)).to_be_visible()

    # What reaches the server is checked again there, whatever the browser let through.
    state = json.loads(page.evaluate("sessionStorage.getItem('signup-wizard')"))
    state["data"]["company"]["postal_code"] = "12-34"
    page.evaluate("s => sessionStorage.setItem('signup-wizard', s)", json.dumps(state))
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    _step(page, 5).get_by_role("button", name="申込み").click()
    expect(_step(page, 1)).to_be_visible()
    expect(page.locator('[data-error-for="company.postal_code"]')).to_have_text(
        "郵便番号は7桁の数字で入力してください。"
    )
    _shot(page, "server-error-beside-field")
