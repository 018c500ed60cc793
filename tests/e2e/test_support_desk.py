"""Talking with the customer, in a real browser, on a deployment resold under another name (guide §6–§8).

setup: a company applies and logs in; its unit is shipped and registered (through the registry's API)
and reports a botnet/C&C block, which becomes an alert; the operator logs in with an authenticator.
- お問い合わせ from the alert detail (alert ID and MAC prefilled, a file attached) → the desk mail with
  the six items and the acknowledgement with the inquiry number → the operator finds it by alert ID
  and answers → the customer gets the answer by mail and sees the thread;
- the operator posts a 重要 notice for the company → the dashboard shows it, its user gets one mail;
- both PDFs download and their text has the expected headings;
- every customer page at 1280 px and 375 px (screenshots), none scrolling sideways at 375 px;
- a link checker: every link a logged-in customer and operator are shown answers without 404 or 5xx.
The deployment's desk address, phone, hours and service name are not the defaults: pages and mails
must show them.
"""

import asyncio
import random
import re
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from alert_pipeline.models import alert_id_for
from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import fortigate_line
from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY
from support.kafka import create_topic, send
from support.maildir import matching, wait_for_mail
from support.processes import ARTIFACTS, Stack
from support.servers import Servers

from .conftest import Screenshots, platform, until
from .test_utm_journey import (
    OPERATOR_LOGIN,
    OPERATOR_PASSWORD,
    _customer_first_login,
    _operator_login,
    _pipeline_knows,
)
from .wizard import fill_wizard

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAIT = 60.0
SERVICE_NAME = "あんしん見守りポータル"
OPERATOR_NAME = "株式会社あんしん通信"
DESK_PHONE = "03-1234-5678"
DESK_HOURS = "毎日 8:00-20:00"
QUESTION = "このアラートの通信先について、社内で対応が必要か教えてください。"
CSV = "日時,宛先\n12:00,203.0.113.5\n".encode()
ANSWER = "UTMで遮断済みです。念のため該当パソコンのウイルス検査をお願いします。"
CUSTOMER_PAGES = [
    "/",
    "/alerts",
    "/units",
    "/units/register",
    "/users",
    "/inquiries",
    "/inquiries/new",
    "/notices",
    "/reports/threats",
]


@dataclass
class Setup:
    stack: Stack
    gateway: str
    desk: str
    email: str
    company: str
    company_id: str
    mac: str
    alert_id: str
    customer_state: Any
    operator_state: Any
    shots: Screenshots


def _token(company_id: str, role: str) -> dict[str, str]:
    principal = Principal(account_id=f"e2e-{role}", company_id=company_id, role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY)}"}


def _context(browser: Browser, state: Any = None, width: int = 1280) -> BrowserContext:
    return browser.new_context(
        locale="ja-JP", viewport={"width": width, "height": 900}, storage_state=state, accept_downloads=True
    )


@pytest.fixture(scope="module")
def setup(servers: Servers, browser: Browser) -> Iterator[Setup]:
    for tool in ("oathtool", "zbarimg", "pdftotext"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.fail(f"{tool} is not installed (scripts/deps.sh --test installs it)")
    stack = platform(servers, operator=(OPERATOR_LOGIN, OPERATOR_PASSWORD))
    raw_topic = f"utm-events-support-{stack.run_id}"
    # Playwright's sync API keeps an event loop in this thread: asyncio runs in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create_topic(servers.kafka, raw_topic, partitions=1)).result()
    gateway = stack.services["gateway"].url
    desk = f"desk-{stack.run_id}@anshin.example"
    brand = {
        "BRAND_SERVICE_NAME": SERVICE_NAME,
        "BRAND_OPERATOR_NAME": OPERATOR_NAME,
        "BRAND_PORTAL_URL": gateway,
        "DESK_EMAIL": desk,
        "DESK_PHONE": DESK_PHONE,
        "DESK_HOURS": DESK_HOURS,
    }
    for service in stack.services.values():
        service.env.update(brand)
    stack.services["alert-pipeline"].env.update(
        ALERT_PIPELINE_RAW_TOPIC=raw_topic, ALERT_PIPELINE_SEEN_FLUSH_SECONDS="1"
    )
    shots = Screenshots(ARTIFACTS / "support-desk")
    try:
        stack.start()
        tag = uuid.uuid4().hex[:8].upper()
        email = f"support.{tag.lower()}@example.com"
        company = f"相談商事株式会社{tag}"
        customer = _context(browser)
        page = customer.new_page()
        page.set_default_timeout(20_000)
        fill_wizard(page, gateway, shots, email=email, company=company)
        confirmation = wait_for_mail(
            servers.maildir, to=email, subject_contains="お申込みのご案内", timeout=WAIT
        )
        link = re.search(r"https?://\S+/signup/confirm/\S+", confirmation.text)
        assert link is not None, confirmation.text
        page.goto(link.group(0))
        _customer_first_login(page, gateway, servers, shots, email)

        # The unit: shipped and registered through the registry's API (the browser journey of that is
        # test_utm_journey), then it reports a heartbeat and a botnet/C&C block.
        registry = stack.services["device-registry"].url
        units: list[dict[str, Any]] = []

        def expected_units() -> bool:
            units[:] = [
                u
                for u in httpx.get(f"{registry}/operator/units", headers=_token("", "operator")).json()
                if u["company_name"] == company
            ]
            return len(units) == 2

        assert until(expected_units), "the company's units never reached the registry"
        company_id = units[0]["company_id"]
        serial, mac, code = f"FGT60S{tag}", f"00:09:0F:{tag[0:2]}:{tag[2:4]}:{tag[4:6]}", f"RC{tag}"
        shipped = httpx.post(
            f"{registry}/operator/units/{units[0]['unit_id']}/shipment",
            json={"serial_number": serial, "mac_address": mac, "registration_code": code},
            headers=_token("", "operator"),
        )
        assert shipped.status_code == 200, shipped.text
        registered = httpx.post(
            f"{registry}/units/register",
            json={"identifier": mac, "registration_code": code, "name": "本社 UTM-1"},
            headers=_token(company_id, "customer"),
        )
        assert registered.status_code == 200, registered.text
        assert until(lambda: _pipeline_knows(servers, stack, [serial])), "pipeline never learnt the unit"
        rng = random.Random(tag)
        now = datetime.now(UTC)
        threat = fortigate_line(serial, "botnet", rng, now)
        event = parse_record(threat)
        alert_id = alert_id_for(event.serial_number, event.event_key, event.occurred_at)
        records = [(serial, fortigate_line(serial, "heartbeat", rng, now)), (serial, threat)]
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run, send(servers.kafka, [(raw_topic, s.encode(), raw) for s, raw in records])
            ).result()

        operator = _context(browser)
        operator_page = operator.new_page()
        operator_page.set_default_timeout(20_000)
        _operator_login(operator_page, gateway, shots)
        yield Setup(
            stack=stack, gateway=gateway, desk=desk, email=email, company=company, company_id=company_id,
            mac=mac, alert_id=alert_id, customer_state=customer.storage_state(),
            operator_state=operator.storage_state(), shots=shots,
        )  # fmt: skip
        customer.close()
        operator.close()
    finally:
        stack.stop()


def test_inquiry_from_an_alert_is_answered_in_its_thread(
    setup: Setup, browser: Browser, servers: Servers
) -> None:
    customer = _context(browser, setup.customer_state)
    page = customer.new_page()
    page.set_default_timeout(20_000)
    gateway, shots = setup.gateway, setup.shots
    try:
        # The alert detail, with the UTM's action in words, leads to the prefilled inquiry form.
        page.goto(f"{gateway}/alerts/{setup.alert_id}")
        assert until(lambda: page.get_by_test_id("alert-detail").count() == 1, page), "no alert detail"
        action = page.get_by_test_id("alert-detail").locator("tr", has_text="UTMの処理")
        expect(action.locator("td")).to_have_text(re.compile(r"^(ブロック|許可\(検知のみ\)|監視|検知|隔離)$"))
        page.get_by_role("link", name="このアラートについてお問い合わせ").click()
        expect(page.get_by_role("heading", name="お問い合わせ", exact=True)).to_be_visible()
        expect(page.get_by_label("アラートID")).to_have_value(setup.alert_id)
        expect(page.get_by_label("UTMのMACアドレス")).to_have_value(setup.mac)
        expect(page.get_by_label("会社名")).to_have_value(setup.company)
        expect(page.get_by_label("連絡先メールアドレス")).to_have_value(setup.email)
        expect(page.get_by_label("お名前")).to_have_value("日電 太郎")
        desk = page.get_by_test_id("support-desk")
        expect(desk).to_contain_text(f"{DESK_PHONE}（{DESK_HOURS}）")
        expect(desk).to_contain_text(setup.desk)
        expect(page.get_by_test_id("site-footer")).to_contain_text(setup.desk)
        expect(page.get_by_test_id("site-footer")).to_contain_text(SERVICE_NAME)
        expect(page).to_have_title(re.compile(SERVICE_NAME))

        # A disguised file is refused with a Japanese message; a real text file is accepted.
        page.get_by_label("お問い合わせの内容").fill(QUESTION)
        page.get_by_label("添付ファイル(任意)").set_input_files(
            {"name": "report.txt", "mimeType": "text/plain", "buffer": b"MZ\x90\x00\x00\x00binary"}
        )
        page.get_by_role("button", name="送信する").click()
        expect(page.get_by_test_id("form-error")).to_contain_text("添付できるファイル")
        expect(page.get_by_label("お問い合わせの内容")).to_have_value(QUESTION)
        page.get_by_label("添付ファイル(任意)").set_input_files(
            {"name": "通信ログ.csv", "mimeType": "text/csv", "buffer": CSV}
        )
        shots(page, "inquiry-form")
        page.get_by_role("button", name="送信する").click()
        expect(page.get_by_test_id("inquiry-sent")).to_be_visible()
        number = re.search(r"INQ-[0-9A-Z]{8}", page.get_by_test_id("inquiry-sent").inner_text())
        assert number is not None
        inquiry_id = number.group(0)
        expect(page.get_by_test_id("inquiry-summary")).to_contain_text("通信ログ.csv")
        shots(page, "inquiry-sent")

        # The desk gets the six items; the customer gets the number.
        to_desk = wait_for_mail(servers.maildir, to=setup.desk, subject_contains=inquiry_id, timeout=WAIT)
        assert to_desk.subject == f"【お問い合わせ受付】{setup.company} 日電 太郎 様(受付番号:{inquiry_id})"
        for line in (
            "お名前 : 日電 太郎",
            f"連絡先メールアドレス : {setup.email}",
            f"会社名 : {setup.company}",
            f"UTMのMACアドレス : {setup.mac}",
            f"アラートID : {setup.alert_id}",
            QUESTION,
            f"{setup.gateway}/operator/inquiries/{inquiry_id}",
        ):
            assert line in to_desk.text, to_desk.text
        ack = wait_for_mail(servers.maildir, to=setup.email, subject_contains=inquiry_id, timeout=WAIT)
        assert ack.subject == f"お問い合わせを受け付けました(受付番号:{inquiry_id})"
        desk_lines = (f"電話：{DESK_PHONE} ({DESK_HOURS})", f"メール：{setup.desk}")
        for text in (SERVICE_NAME, OPERATOR_NAME, *desk_lines):
            assert text in ack.text, ack.text
        assert "otasuketai@osaka.cci.or.jp" not in ack.text

        # The operator finds it by alert ID and answers.
        operator = _context(browser, setup.operator_state)
        ops = operator.new_page()
        ops.set_default_timeout(20_000)
        try:
            ops.goto(f"{gateway}/operator/inquiries")
            ops.get_by_label("アラートID").fill(setup.alert_id)
            ops.get_by_role("button", name="検索").click()
            inbox = ops.get_by_test_id("inbox")
            expect(inbox.locator("tbody tr")).to_have_count(1)
            expect(inbox).to_contain_text("未対応")
            shots(ops, "operator-inbox")
            inbox.get_by_role("link", name=inquiry_id).click()
            expect(ops.get_by_test_id("inquiry-summary")).to_contain_text(setup.mac)
            ops.get_by_label("回答する(お客様にメールでお知らせします)").fill(ANSWER)
            ops.get_by_role("button", name="回答を送る").click()
            expect(ops.get_by_role("status")).to_have_text("返信を送りました。")
            ops.get_by_label("担当").fill("運用 花子")
            ops.get_by_role("button", name="保存").click()
            expect(ops.get_by_test_id("inquiry-summary")).to_contain_text("対応中")
            expect(ops.get_by_test_id("inquiry-summary")).to_contain_text("運用 花子")
            shots(ops, "operator-inquiry")
            ops.goto(f"{gateway}/operator/audit")
            expect(ops.get_by_test_id("audit-log")).to_contain_text("お問い合わせに返信")
        finally:
            operator.close()

        answer = wait_for_mail(
            servers.maildir, to=setup.email, subject_contains=f"お問い合わせへの回答(受付番号:{inquiry_id})",
            timeout=WAIT,
        )  # fmt: skip
        assert ANSWER in answer.text
        assert f"{setup.gateway}/inquiries/{inquiry_id}" in answer.text

        page.goto(f"{gateway}/inquiries/{inquiry_id}")
        thread = page.get_by_test_id("thread")
        expect(thread.locator("li")).to_have_count(2)
        expect(thread.locator("li").nth(0)).to_contain_text(QUESTION)
        expect(thread.locator("li").nth(1)).to_contain_text(ANSWER)
        expect(thread.locator("li").nth(1)).to_contain_text("相談窓口")
        expect(page.get_by_test_id("inquiry-summary")).to_contain_text("対応中")
        shots(page, "inquiry-thread")
        page.get_by_label("返信する").fill("ありがとうございます。検査します。")
        page.get_by_role("button", name="返信を送る").click()
        expect(thread.locator("li")).to_have_count(3)
        reply = wait_for_mail(
            servers.maildir,
            to=setup.desk,
            subject_contains=f"【お問い合わせ返信】{setup.company}",
            timeout=WAIT,
        )
        assert "ありがとうございます。検査します。" in reply.text

        # Another company's inquiry number answers like an unknown one.
        page.goto(f"{gateway}/inquiries/INQ-ZZZZZZZZ")
        expect(page.get_by_text("お探しのページは見つかりませんでした。")).to_be_visible()
    finally:
        customer.close()


def test_important_notice_reaches_the_dashboard_and_each_user_once(
    setup: Setup, browser: Browser, servers: Servers
) -> None:
    title = f"重要: UTMファームウェア更新のお願い {setup.stack.run_id}"
    operator = _context(browser, setup.operator_state)
    ops = operator.new_page()
    ops.set_default_timeout(20_000)
    try:
        ops.goto(f"{setup.gateway}/operator/notices/new")
        ops.get_by_label("重要", exact=True).check()
        ops.get_by_label("タイトル").fill(title)
        ops.get_by_label("本文").fill("UTMのファームウェアを更新しました。再起動をお願いします。")
        ops.get_by_label("選んだ会社").check()
        ops.get_by_label("対象の会社ID(1行に1つ)").fill(setup.company_id)
        setup.shots(ops, "operator-notice-form")
        ops.get_by_role("button", name="保存する").click()
        admin = ops.get_by_test_id("notice-admin")
        expect(admin.locator("tr", has_text=title)).to_contain_text("掲載中")
        # Editing it does not mail it again.
        admin.locator("tr", has_text=title).get_by_role("link", name="編集").click()
        ops.get_by_label("本文").fill("UTMのファームウェアを更新しました。営業時間外に再起動をお願いします。")
        ops.get_by_role("button", name="保存する").click()
        expect(admin.locator("tr", has_text=title)).to_contain_text("メール送信済み")
        # A second notice, for every company, is a marker: once its mail is there, the first one's
        # mails (published earlier on the same path) are all there too.
        marker = f"メンテナンスのお知らせ {setup.stack.run_id}"
        ops.get_by_role("link", name="お知らせを作成する").click()
        ops.get_by_label("重要", exact=True).check()
        ops.get_by_label("タイトル").fill(marker)
        ops.get_by_label("本文").fill("12月5日 2:00-4:00 にポータルを停止します。")
        ops.get_by_role("button", name="保存する").click()
        expect(admin.locator("tr", has_text=marker)).to_be_visible()
    finally:
        operator.close()

    customer = _context(browser, setup.customer_state)
    page = customer.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{setup.gateway}/")
        notices = page.get_by_test_id("dashboard-notices")
        expect(notices).to_contain_text(title)
        expect(notices).to_contain_text("重要")
        setup.shots(page, "dashboard-notice")
        notices.get_by_role("link", name=title).click()
        expect(page.get_by_test_id("notice")).to_contain_text("営業時間外に再起動をお願いします。")
        page.goto(f"{setup.gateway}/notices")
        expect(page.get_by_test_id("notice-list")).to_contain_text(title)
    finally:
        customer.close()

    wait_for_mail(servers.maildir, to=setup.email, subject_contains=marker, timeout=WAIT)
    mails = matching(servers.maildir, to=setup.email, subject_contains=title)
    assert [m.subject for m in mails] == [f"【重要なお知らせ】{title}"]
    assert "UTMのファームウェアを更新しました。再起動をお願いします。" in mails[0].text  # as published
    assert SERVICE_NAME in mails[0].text


def test_both_pdfs_download_with_their_headings(setup: Setup, browser: Browser, tmp_path: Path) -> None:
    customer = _context(browser, setup.customer_state)
    page = customer.new_page()
    page.set_default_timeout(60_000)
    expected = {
        "セキュリティサービスポータル利用マニュアル": [
            "セキュリティサービスポータル利用マニュアル", "第1.1版", "ダッシュボード",
            "アラートログとアラート詳細", "UTM監視状況とUTM登録", "レポート", "お知らせ", "お問い合わせ",
            "UTM脅威レポート", DESK_PHONE, setup.desk,
        ],
        "UTMクイックスタートガイド": [
            "UTMクイックスタートガイド", "第1.1版", "開梱する", "接続する", "電源を入れる",
            "ポータルに登録する", setup.desk,
        ],
    }  # fmt: skip
    try:
        page.goto(f"{setup.gateway}/")
        for link, headings in expected.items():
            with page.expect_download() as info:
                page.get_by_test_id("downloads").get_by_role("link", name=link).click()
            target = tmp_path / info.value.suggested_filename
            info.value.save_as(target)
            assert target.suffix == ".pdf"
            text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True)
            for heading in headings:
                assert heading in text.stdout, (link, heading)
            assert re.search(r"\d{4}/\d{2}/\d{2}", text.stdout)
    finally:
        customer.close()


def test_every_customer_page_fits_1280_and_375_px(setup: Setup, browser: Browser) -> None:
    shots = Screenshots(ARTIFACTS / "support-desk-pages")
    pages = [*CUSTOMER_PAGES, f"/alerts/{setup.alert_id}", "/missing-page"]
    context = _context(browser, setup.customer_state)
    page = context.new_page()
    for listing, selector in (
        ("/inquiries", "[data-testid=inquiry-table] a"),
        ("/notices", ".notice-list a"),
    ):
        page.goto(f"{setup.gateway}{listing}")  # an inquiry's and a notice's page, when there are some
        pages += [
            str(href)
            for href in page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")[:1]
        ]
    context.close()
    for width in (1280, 375):
        context = _context(browser, setup.customer_state, width=width)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            for path in pages:
                page.goto(f"{setup.gateway}{path}")
                expect(page.locator("nav.site-nav")).to_be_visible()  # 404 included: logged-in navigation
                name = path.strip("/").replace("/", "-") or "dashboard"
                shots(page, f"{width}-{name}")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
                logout = page.get_by_role("button", name="ログアウト")
                box = logout.bounding_box()
                assert box is not None
                assert box["height"] < 30, f"ログアウト wraps on {path} at {width}px"
        finally:
            context.close()
    favicon = httpx.get(f"{setup.gateway}/favicon.ico")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/x-icon"


def _crawl(page: Page, start: str, origin: str, limit: int = 80) -> dict[str, int]:
    """Status of every same-origin link reachable from ``start`` (forms are not submitted)."""
    seen: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        response = page.request.get(url, max_redirects=5)
        seen[url] = response.status
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        page.goto(url)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urljoin(url, href).split("#")[0]
            if urlparse(target).netloc == urlparse(origin).netloc and target not in seen:
                queue.append(target)
    return seen


@pytest.mark.parametrize("who", ["customer", "operator"])
def test_link_checker(setup: Setup, browser: Browser, who: str) -> None:
    state = setup.customer_state if who == "customer" else setup.operator_state
    context = _context(browser, state)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        statuses = _crawl(page, f"{setup.gateway}/", setup.gateway)
    finally:
        context.close()
    broken = {url: status for url, status in statuses.items() if status == 404 or status >= 500}
    assert not broken, broken
    assert len(statuses) >= 8, statuses
