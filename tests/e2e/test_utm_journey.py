"""Guide §5–§7 in a real browser: a customer's UTMs are shipped by an operator, registered by the
customer on the portal, and a threat one of them reports becomes an alert in アラートログ and an email.

customer: application → first login (password, user ID, no 2-step) → 【重要】 warning on the dashboard;
operator: login with an authenticator app → UTM出荷登録 of both units (serial, MAC, registration code);
customer: UTM登録 (a wrong code first, then MAC + code and serial + code) → the warning is gone, UTM監視状況
lists both units; the fleet sends a heartbeat and a botnet/C&C block as a FortiGate syslog line →
アラートログ → アラート詳細 (alert ID, unit, MAC, 説明, 対処) → 脅威検出通知 mail with the same alert ID.
"""

import asyncio
import random
import re
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect
from pymongo import MongoClient

from alert_pipeline.models import alert_id_for
from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import fortigate_line
from support.kafka import create_topic, send
from support.maildir import wait_for_mail
from support.processes import ARTIFACTS, Stack
from support.servers import Servers

from .conftest import Screenshots, platform, until
from .test_onboarding import decode_qr, totp_code
from .wizard import fill_wizard, first_login

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NEW_PASSWORD = "Kawasaki#2026"
OPERATOR_LOGIN = "ops.utm@watch.example"
OPERATOR_PASSWORD = "Shukka#Tanto-2026"
WAIT = 60.0


@pytest.fixture(scope="module")
def utm_portal(servers: Servers) -> Iterator[Stack]:
    """Every service; the pipeline reads its own raw topic, and the operator's credentials are set."""
    stack = platform(servers, operator=(OPERATOR_LOGIN, OPERATOR_PASSWORD))
    raw_topic = f"utm-events-e2e-{stack.run_id}"
    asyncio.run(create_topic(servers.kafka, raw_topic, partitions=1))
    stack.services["alert-pipeline"].env.update(
        ALERT_PIPELINE_RAW_TOPIC=raw_topic, ALERT_PIPELINE_SEEN_FLUSH_SECONDS="1"
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _customer_first_login(page: Page, gateway: str, servers: Servers, shots: Screenshots, email: str) -> None:
    """Guide §4 ①–⑤: temporary credentials, new password, user ID, 2段階認証 利用しない."""
    provisioned = wait_for_mail(
        servers.maildir, to=email, subject_contains="仮登録完了のお知らせ", timeout=WAIT
    )
    first_login(
        page, gateway, login_id=provisioned.value("ユーザID"), temporary=provisioned.value("仮パスワード"),
        new_password=NEW_PASSWORD, email=email, shots=shots,
    )  # fmt: skip


def _operator_login(page: Page, gateway: str, shots: Screenshots) -> None:
    """The seeded operator logs in and must set up the authenticator app (no 利用しない offered)."""
    page.goto(f"{gateway}/login")
    page.get_by_label("ユーザID", exact=True).fill(OPERATOR_LOGIN)
    page.get_by_label("パスワード", exact=True).fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="2段階認証設定")).to_be_visible()
    expect(page.get_by_text("運用担当者は認証アプリケーションによる2段階認証が必須です。")).to_be_visible()
    expect(page.get_by_label("利用しない", exact=True)).to_have_count(0)
    page.get_by_role("button", name="次へ").click()

    expect(page.get_by_role("heading", name="認証アプリケーションの設定")).to_be_visible()
    qr_file = shots.folder / "operator-qr.png"
    page.get_by_test_id("totp-qr").screenshot(path=str(qr_file))
    secret = parse_qs(urlparse(decode_qr(qr_file)).query)["secret"][0]
    page.get_by_label("認証コード").fill(totp_code(secret)[0])
    shots(page, "operator-authenticator")
    page.get_by_role("button", name="次へ").click()
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()


def _pipeline_knows(servers: Servers, stack: Stack, serials: list[str]) -> bool:
    """Whether the pipeline's projection of registered units has the serials (else it quarantines)."""
    client: MongoClient[dict[str, Any]] = MongoClient(servers.mongodb_uri)
    try:
        db = client[f"alert-pipeline-{stack.run_id}"]
        return db["units"].count_documents({"_id": {"$in": serials}}) == len(serials)
    finally:
        client.close()


def test_shipment_registration_and_alert(
    utm_portal: Stack, servers: Servers, browser: Browser, page: Page
) -> None:
    for tool in ("oathtool", "zbarimg"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed (apt-get install oathtool zbar-tools)")
    shots = Screenshots(ARTIFACTS / "utm-journey")
    gateway = utm_portal.services["gateway"].url
    tag = uuid.uuid4().hex[:8].upper()
    email = f"utm.{tag.lower()}@example.com"
    company = f"監視工業株式会社{tag}"
    serials = [f"FGT60F{tag}{i}" for i in (1, 2)]
    macs = [f"00:09:0F:{tag[0:2]}:{tag[2:4]}:{i:02X}" for i in (1, 2)]
    codes = [f"RC{tag}{i}X" for i in (1, 2)]

    # 1. The company applies (two units, one destination) and its user completes the first login.
    fill_wizard(page, gateway, shots, email=email, company=company)
    confirmation = wait_for_mail(servers.maildir, to=email, subject_contains="お申込みのご案内", timeout=WAIT)
    link = re.search(r"https?://\S+/signup/confirm/\S+", confirmation.text)
    assert link is not None, confirmation.text
    page.goto(link.group(0))
    _customer_first_login(page, gateway, servers, shots, email)

    # 2. Nothing is registered yet: the dashboard's 【重要】 warning leads to UTM登録.
    warning = page.get_by_test_id("unregistered-warning")
    assert until(warning.is_visible, page), "the unregistered-UTM warning did not appear"
    expect(warning).to_contain_text("【重要】ポータルへの登録が完了していないUTMがあります。")
    shots(page, "dashboard-warning")

    # 3. The operator records the shipment of both units on UTM出荷登録.
    operator_context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    operator = operator_context.new_page()
    operator.set_default_timeout(20_000)
    try:
        _operator_login(operator, gateway, shots)
        operator.goto(f"{gateway}/operator/shipments")
        expect(operator.get_by_role("heading", name="UTM出荷登録")).to_be_visible()
        rows = operator.get_by_test_id("shipment-table").locator("tbody tr", has_text=company)
        assert until(lambda: rows.count() == 2, operator), "the company's two units are not listed"
        shots(operator, "operator-shipments")
        for serial, mac, code in zip(serials, macs, codes, strict=True):
            row = rows.filter(has=operator.get_by_role("button", name="出荷登録")).first
            unit_id = row.locator("td").nth(3).inner_text().strip()
            row.get_by_label("シリアル番号").fill(serial)
            row.get_by_label("MACアドレス").fill(mac)
            row.get_by_label("登録コード").fill(code)
            row.get_by_role("button", name="出荷登録").click()
            expect(operator.get_by_role("status")).to_contain_text(f"{unit_id} の出荷情報を登録しました。")
        expect(rows).to_have_count(0)  # no longer waiting for shipment
        operator.goto(f"{gateway}/operator/shipments?status=shipped")
        shipped = operator.get_by_test_id("shipment-table").locator("tbody tr", has_text=company)
        expect(shipped).to_have_count(2)
        shots(operator, "operator-shipped")
    finally:
        operator_context.close()

    # 4. The customer registers each unit: a wrong code first, then MAC + code and serial + code.
    page.goto(f"{gateway}/")
    expect(page.get_by_test_id("unregistered-warning")).to_be_visible()
    page.get_by_test_id("unregistered-warning").click()
    expect(page.get_by_role("heading", name="UTM登録")).to_be_visible()
    page.get_by_label("MACアドレスまたはシリアル番号").fill(macs[0])
    page.get_by_label("登録コード").fill("WRONG0CODE")
    page.get_by_role("button", name="登録", exact=True).click()
    expect(page.get_by_test_id("register-error")).to_have_text(
        "登録コードが正しくありません。UTM本体に記載された登録コードをご確認ください。"
    )
    shots(page, "register-wrong-code")
    names = ["本社 UTM-1", "川崎支店 UTM-2"]
    for identifier, code, name in ((macs[0], codes[0], names[0]), (serials[1], codes[1], names[1])):
        page.goto(f"{gateway}/units/register")
        page.get_by_label("MACアドレスまたはシリアル番号").fill(identifier)
        page.get_by_label("登録コード").fill(code)
        page.get_by_label("UTMの名称").fill(name)
        shots(page, f"register-{identifier.replace(':', '')}")
        page.get_by_role("button", name="登録", exact=True).click()
        expect(page.get_by_role("heading", name="UTM監視状況")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("UTMを登録しました。")
    table = page.get_by_test_id("unit-table")
    for serial, mac, name in zip(serials, macs, names, strict=True):
        row = table.locator("tbody tr", has_text=serial)
        expect(row).to_contain_text(mac)
        expect(row).to_contain_text(name)
        expect(row).to_contain_text("登録済み")
    expect(page.get_by_text("【重要】")).to_have_count(0)
    shots(page, "units-registered")
    page.goto(f"{gateway}/")
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    expect(page.get_by_test_id("unregistered-warning")).to_have_count(0)
    shots(page, "dashboard-no-warning")

    # 5. The fleet: a heartbeat from each unit, then a botnet/C&C block from the first one.
    assert until(lambda: _pipeline_knows(servers, utm_portal, serials)), "pipeline never learnt the units"
    rng = random.Random(tag)
    now = datetime.now(UTC)
    heartbeats = [(serial, fortigate_line(serial, "heartbeat", rng, now)) for serial in serials]
    threat = fortigate_line(serials[0], "botnet", rng, now)
    event = parse_record(threat)
    # Every botnet/C&C block is ★★★ (written by hand: a wrong rule must fail this test).
    category, stars = "C&C/ボット通信", "★★★(高)"
    alert_id = alert_id_for(event.serial_number, event.event_key, event.occurred_at)
    raw_topic = utm_portal.services["alert-pipeline"].env["ALERT_PIPELINE_RAW_TOPIC"]
    # Playwright's sync API keeps an event loop in this thread: the producer runs in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run,
            send(
                servers.kafka,
                [(raw_topic, s.encode(), raw) for s, raw in [*heartbeats, (serials[0], threat)]],
            ),
        ).result()

    # The units now report: UTM監視状況 shows them 正常 with a last-seen time.
    page.goto(f"{gateway}/units")
    online = table.locator("tbody tr", has_text="正常")
    assert until(lambda: online.count() == 2, page), "the heartbeats did not reach UTM監視状況"
    shots(page, "units-online")

    # アラートログ lists the alert; its detail has the ID, unit, MAC, 説明 and 対処.
    page.goto(f"{gateway}/alerts")
    expect(page.get_by_role("heading", name="アラートログ")).to_be_visible()
    link_to_alert = page.get_by_test_id("alert-table").get_by_role("link", name=alert_id)
    assert until(lambda: link_to_alert.count() == 1, page), f"{alert_id} not in アラートログ"
    alert_row = page.get_by_test_id("alert-table").locator(
        "tbody tr", has=page.get_by_role("link", name=alert_id)
    )
    expect(alert_row).to_contain_text(category)
    expect(alert_row).to_contain_text(stars)
    expect(alert_row).to_contain_text(names[0])
    shots(page, "alert-log")
    link_to_alert.click()
    detail = page.get_by_test_id("alert-detail")
    expect(page.get_by_role("heading", name="アラート詳細")).to_be_visible()
    expect(detail.get_by_role("heading", level=2)).to_have_text(f"{category} 重要度:{stars}")
    for label, value in (("アラートID", alert_id), ("UTM", names[0]), ("MACアドレス", macs[0])):
        expect(
            detail.locator("tr", has=page.locator("th", has_text=re.compile(f"^{label}$")))
        ).to_contain_text(value)
    expect(detail.get_by_role("heading", name="説明:")).to_be_visible()
    expect(detail.get_by_role("heading", name="対処:")).to_be_visible()
    explanation = detail.locator("h3:has-text('説明:') + p")
    remedy = detail.locator("h3:has-text('対処:') + p")
    assert explanation.inner_text().strip()
    assert remedy.inner_text().strip()
    shots(page, "alert-detail")

    # The user's email: 脅威検出通知(<category>) 重要度:<stars>, with the same alert ID and unit.
    mail = wait_for_mail(
        servers.maildir, to=email, subject_contains=f"脅威検出通知({category}) 重要度:{stars}", timeout=WAIT
    )
    assert mail.subject == f"脅威検出通知({category}) 重要度:{stars}"
    assert alert_id in mail.text, mail.text
    assert macs[0] in mail.text, mail.text
    assert f"{gateway}/alerts/{alert_id}" in mail.text, mail.text
    assert explanation.inner_text().strip() in mail.text, mail.text
    (shots.folder / f"{shots.count + 1:02d}-alert-mail.txt").write_text(
        f"Subject: {mail.subject}\n\n{mail.text}", encoding="utf-8"
    )
