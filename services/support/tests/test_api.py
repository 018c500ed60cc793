"""The support API against a real MongoDB: inquiries, threads, attachments, notices, isolation, audit."""

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import Principal
from shared.events import AlertDetected, NoticePublished, NotificationRequested
from shared.settings import DEV_TOKEN_PUBLIC_KEY, BrandSettings
from support.service_api import Clock, Published, bearer, scratch_database
from support_desk import api
from support_desk.service import SupportDesk

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


class Env:
    def __init__(
        self, desk: SupportDesk, published: Published, clock: Clock, http: httpx.AsyncClient
    ) -> None:
        self.desk, self.published, self.clock, self.http = desk, published, clock, http

    def headers(self, company_id: str, role: str = "customer", name: str = "日電 太郎") -> dict[str, str]:
        return bearer(
            Principal(account_id=f"A-{company_id or 'ops'}", company_id=company_id, role=role, name=name)
        )

    @property
    def operator(self) -> dict[str, str]:
        return self.headers("", "operator", name="運用 花子")

    def mails(self) -> list[NotificationRequested]:
        return [e for e in self.published if isinstance(e, NotificationRequested)]


@pytest.fixture
async def env(servers: Any) -> AsyncIterator[Env]:
    clock = Clock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    published = Published(clock)
    brand = BrandSettings(desk_email="desk@support.example", portal_url="https://portal.example.jp/")
    async with scratch_database(servers.mongodb_uri, "support-test") as db:
        desk = SupportDesk(db, publish=published, brand=brand, now=clock)
        await desk.create_indexes()
        app = FastAPI()
        app.include_router(api.router)
        app.state.desk = desk
        app.state.token_public_key = DEV_TOKEN_PUBLIC_KEY
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://support"
        ) as http:
            yield Env(desk, published, clock, http)


def _inquiry(**changes: Any) -> dict[str, Any]:
    return {
        "name": "日電 太郎",
        "email": "taro@example.com",
        "company_name": "日本電気株式会社",
        "mac_address": "00-09-0f-aa-bb-cc",
        "alert_id": "ALT-20261201-8F3K2Q",
        "question": "このアラートの対処方法を教えてください。",
        **changes,
    }


async def test_an_inquiry_is_stored_numbered_and_mailed_to_the_desk_and_the_customer(env: Env) -> None:
    response = await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["inquiry_id"].startswith("INQ-")
    assert len(body["inquiry_id"]) == 12
    assert body["mac_address"] == "00:09:0F:AA:BB:CC"
    assert body["status"] == "open"
    assert body["status_label"] == "未対応"
    desk_mail, ack = env.mails()
    assert desk_mail.recipient == "desk@support.example"
    assert desk_mail.template == "inquiry_received"
    assert desk_mail.context["audience"] == "desk"
    assert desk_mail.context["alert_id"] == "ALT-20261201-8F3K2Q"
    assert desk_mail.context["mac_address"] == "00:09:0F:AA:BB:CC"
    assert desk_mail.context["company_name"] == "日本電気株式会社"
    assert ack.recipient == "taro@example.com"
    assert ack.context["inquiry_id"] == body["inquiry_id"]
    assert ack.context["inquiry_url"] == f"https://portal.example.jp/inquiries/{body['inquiry_id']}"


async def test_inquiry_mails_whose_publish_failed_leave_later_from_the_outbox(env: Env) -> None:
    env.clock.broker_down = True
    response = await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))
    assert response.status_code == 201, response.text  # stored: its mails follow it
    inquiry_id = response.json()["inquiry_id"]
    assert env.mails() == []
    env.clock.broker_down = False
    assert await env.desk.publish_outbox() == 0  # within the grace: left to the request

    env.clock.now += timedelta(seconds=11)
    assert await env.desk.publish_outbox() == 2
    assert await env.desk.publish_outbox() == 0

    mails = env.mails()
    assert sorted(m.recipient for m in mails) == ["desk@support.example", "taro@example.com"]
    assert {m.template for m in mails} == {"inquiry_received"}
    assert {m.context["inquiry_id"] for m in mails} == {inquiry_id}


async def test_a_reply_stored_while_the_broker_is_down_is_mailed_once_later(env: Env) -> None:
    created = await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))
    inquiry_id = created.json()["inquiry_id"]
    env.published.clear()
    env.clock.broker_down = True
    reply = await env.http.post(
        f"/inquiries/{inquiry_id}/messages", json={"body": "確認します。"}, headers=env.operator
    )
    assert reply.status_code == 200, reply.text
    env.clock.broker_down = False
    env.clock.now += timedelta(seconds=11)

    assert await env.desk.publish_outbox() == 1
    assert await env.desk.publish_outbox() == 0
    [mail] = env.mails()
    assert (mail.template, mail.recipient, mail.context["message"]) == (
        "inquiry_reply", "taro@example.com", "確認します。",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "お名前"),
        ({"question": ""}, "お問い合わせの内容"),
        ({"email": "not-an-address"}, "メールアドレス"),
        ({"mac_address": "00:09:0F"}, "MACアドレス"),
        ({"alert_id": "<script>"}, "アラートID"),
    ],
)
async def test_bad_fields_are_refused_in_japanese(env: Env, changes: dict[str, str], message: str) -> None:
    response = await env.http.post("/inquiries", json=_inquiry(**changes), headers=env.headers("C-1"))
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert env.mails() == []


async def test_attachments_are_checked_by_content_and_size(env: Env) -> None:
    ok = await env.http.post(
        "/inquiries",
        json=_inquiry(attachment_base64=base64.b64encode(PNG).decode(), attachment_name="../画面.png"),
        headers=env.headers("C-1"),
    )
    assert ok.status_code == 201
    assert ok.json()["attachment"] == {"filename": "画面.png", "content_type": "image/png", "size": 72}
    stored = await env.http.get(
        f"/inquiries/{ok.json()['inquiry_id']}/attachment", headers=env.headers("C-1")
    )
    assert stored.content == PNG
    assert stored.headers["content-type"] == "image/png"

    disguised = await env.http.post(
        "/inquiries",
        json=_inquiry(attachment_base64=base64.b64encode(EXE).decode(), attachment_name="log.txt"),
        headers=env.headers("C-1"),
    )
    assert disguised.status_code == 422
    assert "添付できるファイル" in disguised.json()["detail"]

    too_big = b"a" * (5 * 1024 * 1024 + 1)
    refused = await env.http.post(
        "/inquiries",
        json=_inquiry(attachment_base64=base64.b64encode(too_big).decode(), attachment_name="big.txt"),
        headers=env.headers("C-1"),
    )
    assert refused.status_code == 422
    assert "5MB" in refused.json()["detail"]


async def test_another_companys_inquiry_answers_like_an_unknown_one(env: Env) -> None:
    created = await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))
    inquiry_id = created.json()["inquiry_id"]
    other = env.headers("C-2")
    assert (await env.http.get(f"/inquiries/{inquiry_id}", headers=other)).status_code == 404
    assert (await env.http.get("/inquiries/INQ-UNKNOWN1", headers=other)).status_code == 404
    assert (await env.http.get(f"/inquiries/{inquiry_id}/attachment", headers=other)).status_code == 404
    reply = await env.http.post(f"/inquiries/{inquiry_id}/messages", json={"body": "x"}, headers=other)
    assert reply.status_code == 404
    assert (await env.http.get("/inquiries", headers=other)).json() == []
    assert [
        i["inquiry_id"] for i in (await env.http.get("/inquiries", headers=env.headers("C-1"))).json()
    ] == [inquiry_id]
    # Customers cannot use the operator inbox.
    assert (await env.http.get("/operator/inquiries", headers=env.headers("C-1"))).status_code == 403


async def test_thread_replies_are_mailed_to_the_other_side_and_move_the_status(env: Env) -> None:
    created = await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))
    inquiry_id = created.json()["inquiry_id"]
    env.published.clear()

    answered = await env.http.post(
        f"/inquiries/{inquiry_id}/messages", json={"body": "UTMを再起動してください。"}, headers=env.operator
    )
    assert answered.status_code == 200
    assert answered.json()["status_label"] == "対応中"
    [to_customer] = env.mails()
    assert to_customer.template == "inquiry_reply"
    assert to_customer.recipient == "taro@example.com"
    assert to_customer.context["message"] == "UTMを再起動してください。"

    env.published.clear()
    thanks = await env.http.post(
        f"/inquiries/{inquiry_id}/messages", json={"body": "解決しました。"}, headers=env.headers("C-1")
    )
    [to_desk] = env.mails()
    assert to_desk.recipient == "desk@support.example"
    thread = thanks.json()["messages"]
    assert [(m["author_role"], m["body"]) for m in thread] == [
        ("operator", "UTMを再起動してください。"),
        ("customer", "解決しました。"),
    ]
    empty = await env.http.post(f"/inquiries/{inquiry_id}/messages", json={"body": " "}, headers=env.operator)
    assert empty.status_code == 422


async def test_operator_inbox_searches_and_updates_status_and_assignee(env: Env) -> None:
    first = (await env.http.post("/inquiries", json=_inquiry(), headers=env.headers("C-1"))).json()
    other = _inquiry(company_name="株式会社サンプル", alert_id="", mac_address="00:09:0F:11:22:33")
    second = (await env.http.post("/inquiries", json=other, headers=env.headers("C-2"))).json()

    async def ids(**params: str) -> list[str]:
        response = await env.http.get("/operator/inquiries", params=params, headers=env.operator)
        assert response.status_code == 200
        return sorted(i["inquiry_id"] for i in response.json())

    assert await ids() == sorted([first["inquiry_id"], second["inquiry_id"]])
    assert await ids(company="サンプル") == [second["inquiry_id"]]
    assert await ids(company="C-1") == [first["inquiry_id"]]
    assert await ids(alert_id="alt-20261201-8f3k2q") == [first["inquiry_id"]]
    assert await ids(mac_address="00090f112233") == [second["inquiry_id"]]

    updated = await env.http.patch(
        f"/operator/inquiries/{first['inquiry_id']}",
        json={"status": "closed", "assignee": "運用 花子"},
        headers=env.operator,
    )
    assert updated.json()["status_label"] == "完了"
    assert updated.json()["assignee"] == "運用 花子"
    assert await ids(status="closed") == [first["inquiry_id"]]
    counts = (await env.http.get("/operator/inquiries/open-counts", headers=env.operator)).json()
    assert counts == {"C-2": 1}
    audit = (await env.http.get("/operator/audit", headers=env.operator)).json()
    assert audit["total"] == 1
    assert audit["items"][0]["actor"] == "運用 花子"
    assert audit["items"][0]["summary"] == "状態: 完了 / 担当: 運用 花子"


def _notice(**changes: Any) -> dict[str, Any]:
    return {
        "title": "定期メンテナンスのお知らせ",
        "body": "12月5日 2:00-4:00 にポータルを停止します。",
        "kind": "メンテナンス",
        "published_from": "2026-12-01T00:00:00+00:00",
        **changes,
    }


async def test_notices_are_shown_to_targeted_companies_within_their_period(env: Env) -> None:
    everyone = await env.http.post("/operator/notices", json=_notice(), headers=env.operator)
    assert everyone.status_code == 201
    only_c2 = await env.http.post(
        "/operator/notices", json=_notice(title="C-2 だけ", company_ids=["C-2"]), headers=env.operator
    )
    later = await env.http.post(
        "/operator/notices", json=_notice(title="来週", published_from="2026-12-08T00:00:00+00:00"),
        headers=env.operator,
    )  # fmt: skip
    ended = await env.http.post(
        "/operator/notices",
        json=_notice(
            title="終了", published_from="2026-11-01T00:00:00Z", published_until="2026-11-30T00:00:00Z"
        ),
        headers=env.operator,
    )
    assert {r.status_code for r in (only_c2, later, ended)} == {201}

    c1 = (await env.http.get("/notices", headers=env.headers("C-1"))).json()
    assert [n["title"] for n in c1["items"]] == ["定期メンテナンスのお知らせ"]
    c2 = (await env.http.get("/notices", headers=env.headers("C-2"))).json()
    assert sorted(n["title"] for n in c2["items"]) == ["C-2 だけ", "定期メンテナンスのお知らせ"]
    hidden = only_c2.json()["notice_id"]
    assert (await env.http.get(f"/notices/{hidden}", headers=env.headers("C-1"))).status_code == 404
    assert (await env.http.get(f"/notices/{hidden}", headers=env.headers("C-2"))).status_code == 200
    assert (
        await env.http.post("/operator/notices", json=_notice(), headers=env.headers("C-1"))
    ).status_code == 403

    env.clock.now = datetime(2026, 12, 9, tzinfo=UTC)
    c1 = (await env.http.get("/notices", headers=env.headers("C-1"))).json()
    assert [n["title"] for n in c1["items"]] == ["来週", "定期メンテナンスのお知らせ"]


async def test_notices_are_paged(env: Env) -> None:
    for day in range(1, 13):
        start = (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)).isoformat()
        response = await env.http.post(
            "/operator/notices",
            json=_notice(title=f"お知らせ{day:02d}", published_from=start),
            headers=env.operator,
        )
        assert response.status_code == 201
    page2 = (
        await env.http.get("/notices", params={"page": 2, "per_page": 5}, headers=env.headers("C-1"))
    ).json()
    assert page2["total"] == 12
    assert [n["title"] for n in page2["items"]] == [f"お知らせ{d:02d}" for d in (7, 6, 5, 4, 3)]
    # The last page (counted from its own items), a page past it, and one page holding them all.
    for page, per_page, shown in ((3, 5, 2), (4, 5, 0), (1, 20, 12), (1, 12, 12)):
        answer = (
            await env.http.get(
                "/notices", params={"page": page, "per_page": per_page}, headers=env.headers("C-1")
            )
        ).json()
        assert (answer["total"], len(answer["items"])) == (12, shown), (page, per_page)
    other = (await env.http.get("/notices", headers=env.headers("C-9"))).json()
    assert (other["total"], len(other["items"])) == (12, 10)


async def test_an_important_notice_is_announced_once_when_its_publication_starts(env: Env) -> None:
    created = await env.http.post(
        "/operator/notices",
        json=_notice(kind="重要", company_ids=["C-1", "C-3"], published_from="2026-12-02T00:00:00Z"),
        headers=env.operator,
    )
    notice_id = created.json()["notice_id"]
    assert [e for e in env.published if isinstance(e, NoticePublished)] == []

    env.clock.now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    edited = await env.http.put(
        f"/operator/notices/{notice_id}",
        json=_notice(kind="重要", title="重要: 脆弱性への対応", company_ids=["C-1", "C-3"],
                     published_from="2026-12-02T00:00:00Z"),
        headers=env.operator,
    )  # fmt: skip
    assert edited.status_code == 200
    [announced] = [e for e in env.published if isinstance(e, NoticePublished)]
    assert announced.notice_id == notice_id
    assert announced.title == "重要: 脆弱性への対応"
    assert announced.company_ids == ["C-1", "C-3"]
    assert announced.notice_url == f"https://portal.example.jp/notices/{notice_id}"

    await env.http.put(
        f"/operator/notices/{notice_id}", json=_notice(kind="重要", title="再編集"), headers=env.operator
    )
    assert len([e for e in env.published if isinstance(e, NoticePublished)]) == 1

    bad = await env.http.post(
        "/operator/notices",
        json=_notice(published_from="2026-12-02T00:00:00Z", published_until="2026-12-01T00:00:00Z"),
        headers=env.operator,
    )
    assert bad.status_code == 422
    assert "掲載終了日時" in bad.json()["detail"]


def _alert(alert_id: str, company_id: str, detected_at: datetime) -> AlertDetected:
    return AlertDetected(
        alert_id=alert_id, company_id=company_id, unit_id="U1", unit_name="UTM-1",
        mac_address="00:09:0F:AA:BB:CC", category="C&C/ボット通信", severity=3, summary="s", explanation="e",
        remedy="r", detected_at=detected_at,
    )  # fmt: skip


async def test_serious_alerts_are_counted_per_company_once_each(env: Env) -> None:
    recent = datetime.now(UTC) - timedelta(days=1)
    old = datetime.now(UTC) - timedelta(days=40)
    await env.desk.record_serious_alerts([_alert("ALT-1", "C-1", recent), _alert("ALT-2", "C-1", recent)])
    await env.desk.record_serious_alerts([_alert("ALT-2", "C-1", recent), _alert("ALT-3", "C-2", old)])
    counts = await env.http.get("/operator/companies/serious-alerts", headers=env.operator)
    assert counts.json() == {"C-1": 2}
    assert (
        await env.http.get("/operator/companies/serious-alerts", headers=env.headers("C-1"))
    ).status_code == 403
