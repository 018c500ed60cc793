"""Reports and alert triage in a real browser (Debian Chromium).

A customer applies and logs in; their two UTMs and a month of simulated traffic (October 2026, JST)
are written through the alert pipeline's own repository (unit projection, hourly counters with
top-N material, alerts). The customer opens each report, changes the period, downloads the PDF
and the CSV (the PDF's text, by pdftotext, holds the company name, the period and the totals
shown), then acknowledges alerts from アラート詳細 and in bulk from アラートログ.

The month, by hand: 本社 sends records every hour of the 31 days and reports, at 10:00 JST each
day, two IPS threats (one ★★★, one ★★☆); 支店 is silent on Oct 10 and 11 (48 hours) and reports one
Webガード ★☆☆ threat at 10:00 JST on each of its 29 other days. Totals: 91 threats, 62 of ★★☆+,
★★★ 31 / ★★☆ 31 / ★☆☆ 29; monitored: 本社 744 h (100.0%), 支店 696 h (93.5%). The period before
(Aug 31 – Sep 30) has 70 threats: +30.0%.
"""

import asyncio
import re
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pymongo import AsyncMongoClient

from alert_pipeline.models import Alert, Unit, alert_id_for
from alert_pipeline.reports import DailyRollups
from alert_pipeline.repository import MongoPipelineStore
from shared.events import UtmRegistered
from support.kafka import send
from support.maildir import wait_for_mail
from support.processes import ARTIFACTS, Stack
from support.servers import Servers

from .conftest import Screenshots
from .test_utm_journey import _customer_first_login
from .wizard import fill_wizard

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

JST_OFFSET = timedelta(hours=9)
OCTOBER = {"first": "2026-10-01", "last": "2026-10-31"}


def _jst(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - JST_OFFSET


async def _seed(servers: Servers, stack: Stack, email: str, tag: str) -> list[str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    try:
        account = None
        for _ in range(60):
            account = await client[f"identity-{stack.run_id}"]["accounts"].find_one({"email_lower": email})
            if account:
                break
            await asyncio.sleep(1)
        assert account is not None, "the account was not provisioned"
        company = account["company_id"]
        store = MongoPipelineStore(client[f"alert-pipeline-{stack.run_id}"])
        head = Unit(f"FGT60R{tag}1", f"U-{tag}-1", company, "本社", "00:09:0F:AA:00:01")
        branch = Unit(f"FGT60R{tag}2", f"U-{tag}-2", company, "支店", "00:09:0F:AA:00:02")
        # Registered as the device registry announces it; the pipeline keeps its projection of units.
        await send(servers.kafka, [_registration(unit) for unit in (head, branch)])
        for _ in range(120):
            if len(await store.find_units([head.serial_number, branch.serial_number])) == 2:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the pipeline did not learn of the units")
        counts: dict[tuple[str, str, datetime], dict[str, int]] = {}
        start = _jst(2026, 10, 1, 0)
        for h in range(31 * 24):
            hour = start + timedelta(hours=h)
            jst = hour + JST_OFFSET
            fields: dict[str, int] = {"benign.traffic": 50}
            if jst.hour == 10:
                fields |= {
                    "threats.ips.count": 2, "threats.ips.severity_3": 1, "threats.ips.severity_2": 1,
                    "top.sig.ET TROJAN Zeus": 2, "top.src.192%2E168%2E1%2E10": 2,
                    "top.dst.evil%2Eexample%2Ecom": 1,
                }  # fmt: skip
            counts[(company, head.serial_number, hour)] = fields
            if jst.day in (10, 11):
                continue
            fields = {"benign.traffic": 20}
            if jst.hour == 10:
                fields |= {
                    "threats.webfilter.count": 1, "threats.webfilter.severity_1": 1,
                    "top.sig.Malicious Website": 1, "top.src.192%2E168%2E2%2E20": 1,
                    "top.dst.phish%2Eexample%2Enet": 1,
                }  # fmt: skip
            counts[(company, branch.serial_number, hour)] = fields
        counts[(company, head.serial_number, _jst(2026, 9, 15, 10))] = {
            "benign.traffic": 10, "threats.ips.count": 70, "threats.ips.severity_2": 70,
        }  # fmt: skip
        await store.add_counts(counts)
        # The pipeline's roll-up job had run over October before the traffic was written here: what
        # it does for finished days, done again now that they hold the month.
        rollups = DailyRollups(client[f"alert-pipeline-{stack.run_id}"])
        for day in range(1, 32):
            await rollups.build(date(2026, 10, day), datetime.now(UTC))
        # Three recent alerts to triage: one ★★★ and two ★★☆.
        now = datetime.now(UTC).replace(microsecond=0)
        alerts = []
        for i, severity in enumerate((3, 2, 2)):
            detected = now - timedelta(hours=i + 1)
            alerts.append({
                "_id": alert_id_for(head.serial_number, f"triage-{tag}-{i}", detected), "company_id": company,
                "unit_id": head.unit_id, "unit_name": head.name, "serial_number": head.serial_number,
                "mac_address": head.mac_address, "category": "不正侵入防御(IPS)", "category_key": "ips",
                "severity": severity, "signature": f"ET EXPLOIT {i}", "action": "blocked",
                "source": "192.168.1.10", "destination": "203.0.113.5", "summary": "攻撃を検知しました。",
                "explanation": "説明", "remedy": "対処", "detected_at": detected,
                "source_event": f"triage-{tag}-{i}", "source_format": "test", "received_at": now,
            })  # fmt: skip
        await store.insert_alerts([Alert.from_document(a) for a in alerts])
        return [a["_id"] for a in alerts]
    finally:
        await client.close()


def _registration(unit: Unit) -> tuple[str, bytes, bytes]:
    event = UtmRegistered(
        company_id=unit.company_id, unit_id=unit.unit_id, serial_number=unit.serial_number,
        mac_address=unit.mac_address, name=unit.name,
    )  # fmt: skip
    return event.TOPIC, unit.serial_number.encode(), event.model_dump_json().encode()


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _choose_range(page: Page, first: str, last: str) -> None:
    picker = page.get_by_test_id("period-picker")
    picker.get_by_label("期間を指定", exact=True).check()
    picker.locator("#first").fill(first)
    picker.locator("#last").fill(last)
    picker.get_by_role("button", name="表示").click()


def test_reports_exports_and_triage(portal: Stack, servers: Servers, page: Page) -> None:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is not installed (apt-get install poppler-utils; scripts/deps.sh --test)")
    shots = Screenshots(ARTIFACTS / "reports")
    gateway = portal.services["gateway"].url
    tag = uuid.uuid4().hex[:8].upper()
    email = f"report.{tag.lower()}@example.com"
    company = f"見守り物産株式会社{tag}"

    fill_wizard(page, gateway, shots, email=email, company=company)
    confirmation = wait_for_mail(servers.maildir, to=email, subject_contains="お申込みのご案内", timeout=60)
    link = re.search(r"https?://\S+/signup/confirm/\S+", confirmation.text)
    assert link is not None, confirmation.text
    page.goto(link.group(0))
    _customer_first_login(page, gateway, servers, shots, email)
    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        alert_ids = pool.submit(asyncio.run, _seed(servers, portal, email, tag)).result()

    # UTM脅威レポート: this month first (nothing in it), then October by the range picker.
    page.get_by_role("link", name="UTM脅威レポートを確認する").click()
    expect(page.get_by_role("heading", name="UTM脅威レポート", exact=True)).to_be_visible()
    expect(page.get_by_test_id("period-picker").get_by_label("今月")).to_be_checked()
    _choose_range(page, "2026-10-31", "2026-10-01")
    expect(page.get_by_test_id("report-error")).to_have_text("期間の開始が終了より後になっています。")
    _choose_range(page, OCTOBER["first"], OCTOBER["last"])
    expect(page.get_by_test_id("report-period")).to_have_text("2026/10/01〜2026/10/31")
    expect(page.get_by_test_id("report-company")).to_have_text(company)
    expect(page.get_by_test_id("total-threats")).to_have_text("91")
    expect(page.get_by_test_id("total-important")).to_have_text("62")
    for level, count in (("3", "31"), ("2", "31"), ("1", "29")):
        expect(page.get_by_test_id(f"total-severity-{level}")).to_have_text(count)
    expect(page.get_by_test_id("section-totals")).to_contain_text("↑30.0%")
    expect(page.get_by_test_id("section-top_signatures")).to_contain_text("ET TROJAN Zeus")
    expect(page.get_by_test_id("section-top_sources")).to_contain_text("192.168.1.10")
    expect(page.get_by_test_id("section-top_destinations")).to_contain_text("evil.example.com")
    units = page.get_by_test_id("section-units")
    expect(units.locator("tr", has_text="本社")).to_contain_text("100.0%")
    expect(units.locator("tr", has_text="支店")).to_contain_text("93.5%")
    daily = page.get_by_alt_text(re.compile("日別の検知件数のグラフ。期間合計91件"))
    expect(daily).to_be_visible()
    assert daily.evaluate("img => img.naturalWidth") > 0, "the daily chart did not load"
    shots(page, "threat-report")

    with page.expect_download() as pdf_download:
        page.get_by_test_id("download-pdf").click()
    pdf = shots.folder / "threat-report.pdf"
    pdf_download.value.save_as(pdf)
    text = _pdf_text(pdf)
    for expected in (company, "2026/10/01〜2026/10/31", "UTM脅威レポート", "1 / "):
        assert expected in text, expected
    assert re.search(r"すべての脅威\s+91\s+70\s+↑30\.0%", text), text[:2000]
    assert re.search(r"★★☆\(中\)以上\s+62", text), text[:2000]

    with page.expect_download() as csv_download:
        page.get_by_test_id("download-csv").click()
    raw = Path(csv_download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the CSV has no BOM"
    csv_text = raw.decode("utf-8-sig")
    assert f"会社名,{company}" in csv_text
    assert "すべての脅威,91,70,↑30.0%" in csv_text
    assert "本社,62,62,744,100.0" in csv_text

    # 参加企業平均と比べる: one company only, so nothing comparative.
    page.get_by_role("link", name="参加企業平均と比べる").click()
    _choose_range(page, OCTOBER["first"], OCTOBER["last"])
    expect(page.get_by_test_id("not-enough-companies")).to_contain_text("5社未満")
    expect(page.get_by_test_id("average-table").locator("tr", has_text="すべての脅威")).to_contain_text(
        "5社未満のため表示しません"
    )
    shots(page, "company-comparison")
    with page.expect_download() as compare_pdf:
        page.get_by_test_id("download-pdf").click()
    compare_file = shots.folder / "company-comparison.pdf"
    compare_pdf.value.save_as(compare_file)
    assert company in _pdf_text(compare_file)

    # 自社UTM同士を比べる: 本社 has the most ★★☆+ threats.
    page.get_by_role("link", name="自社UTM同士を比べる").click()
    _choose_range(page, OCTOBER["first"], OCTOBER["last"])
    expect(page.get_by_test_id("highlighted-unit")).to_contain_text("本社")
    expect(page.get_by_test_id("highlighted-unit")).to_have_count(1)
    shots(page, "unit-comparison")
    with page.expect_download() as units_csv:
        page.get_by_test_id("download-csv").click()
    assert "支店,29,0,0,29" in Path(units_csv.value.path()).read_bytes().decode("utf-8-sig")

    # Triage: three open ★★☆+ alerts; acknowledge one from its detail page.
    page.goto(f"{gateway}/")
    expect(page.get_by_test_id("unresolved-important")).to_contain_text("3件")
    page.goto(f"{gateway}/alerts/{alert_ids[0]}")
    expect(page.get_by_test_id("alert-status")).to_have_text("未対応")
    page.get_by_label("対応状況を変更").select_option(label="確認済み")
    page.get_by_label("コメント(任意)").fill("社内PCを確認しました")
    page.get_by_role("button", name="更新").click()
    expect(page.get_by_test_id("alert-status")).to_have_text("確認済み")
    expect(page.get_by_test_id("status-history")).to_contain_text("社内PCを確認しました")
    shots(page, "alert-acknowledged")

    page.goto(f"{gateway}/")
    expect(page.get_by_test_id("unresolved-important")).to_contain_text("2件")
    page.get_by_role("link", name="問題を確認").click()
    expect(page.locator("#severity")).to_have_value("2+")
    expect(page.locator("#severity option:checked")).to_have_text("★★☆(中)以上")
    expect(page.locator("#status option:checked")).to_have_text("未対応")
    table = page.get_by_test_id("alert-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    for alert_id in alert_ids[1:]:
        table.get_by_label(f"{alert_id}を選択").check()
    shots(page, "bulk-select")
    page.get_by_role("button", name="選択したアラートを確認済みにする").click()
    expect(table.get_by_text("検出された脅威はありません")).to_be_visible()
    # Pressing 絞り込み keeps the filter in force.
    page.get_by_role("button", name="絞り込み").click()
    expect(page.locator("#severity option:checked")).to_have_text("★★☆(中)以上")
    page.goto(f"{gateway}/alerts")
    for alert_id in alert_ids:
        expect(page.get_by_test_id(f"status-{alert_id}")).to_have_text("確認済み")
    page.goto(f"{gateway}/")
    expect(page.get_by_test_id("unresolved-important")).to_contain_text("0件")
    shots(page, "dashboard-after-triage")
