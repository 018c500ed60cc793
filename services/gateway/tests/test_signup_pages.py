"""The application wizard's pages and its JSON route, over the real signup service (MongoDB + Kafka)."""

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from gateway.backends import Backends
from gateway.csrf import token_for
from gateway.main import create_app as create_gateway
from gateway.settings import DEV_CSRF_SECRET
from gateway.settings import Settings as GatewaySettings
from shared.settings import KafkaSettings, MongoSettings
from shared.topics import APPLICATION_CONFIRMATION_REQUESTED
from signup.main import create_app as create_signup
from signup.settings import Settings as SignupSettings
from support.portal import HandlesByHand, log_in
from support.servers import Servers
from support.signup_form import application_form

pytestmark = pytest.mark.integration  # the signup service runs on the real MongoDB and Kafka

PORTAL = "http://portal.test"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')

VALID = application_form()


def _gateway(backends: Backends) -> FastAPI:
    app = create_gateway(GatewaySettings(app_env="development"))
    app.state.backends = backends
    app.state.session_store = HandlesByHand()
    return app


@pytest.fixture
async def signup_app(servers: Servers) -> AsyncIterator[FastAPI]:
    database = f"gateway_signup_test_{uuid.uuid4().hex[:10]}"
    settings = SignupSettings(
        database=database,
        kafka=KafkaSettings(bootstrap_servers=servers.kafka),
        mongo=MongoSettings(uri=servers.mongodb_uri),
        public_url=PORTAL,
    )
    app = create_signup(settings)
    async with app.router.lifespan_context(app):
        yield app
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    await client.drop_database(database)
    await client.close()


@pytest.fixture
async def portal(signup_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    backends = Backends({"signup": "http://signup"}, transport=httpx.ASGITransport(app=signup_app))
    app = _gateway(backends)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PORTAL, headers={"Origin": PORTAL}
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await backends.aclose()


async def _log_in(client: httpx.AsyncClient, role: str) -> None:
    await log_in(client, client.app, role)  # type: ignore[attr-defined]


@pytest.fixture
async def portal_without_signup() -> AsyncIterator[httpx.AsyncClient]:
    backends = Backends({"signup": "http://127.0.0.1:9"}, timeout=2.0)
    app = _gateway(backends)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PORTAL, headers={"Origin": PORTAL}
    ) as client:
        yield client
    await backends.aclose()


@pytest.fixture
async def confirmation_urls(servers: Servers) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers.kafka, enable_auto_commit=False)
    await consumer.start()
    partitions = [
        TopicPartition(APPLICATION_CONFIRMATION_REQUESTED, p)
        for p in consumer.partitions_for_topic(APPLICATION_CONFIRMATION_REQUESTED) or {0, 1, 2}
    ]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    yield consumer
    await consumer.stop()


async def _url_for(consumer: AIOKafkaConsumer, number: str) -> str:
    for _ in range(30):
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                value = json.loads(record.value)
                if value["application_number"] == number:
                    return str(value["confirmation_url"])
    raise AssertionError(f"no confirmation request for {number}")


async def _open_wizard(client: httpx.AsyncClient) -> str:
    page = await client.get("/signup")
    assert page.status_code == 200
    match = META_CSRF.search(page.text)
    assert match
    return match.group(1)


async def _post(client: httpx.AsyncClient, csrf: str, body: Any, key: str = "") -> httpx.Response:
    headers = {"X-CSRF-Token": csrf, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/signup/applications", json=body, headers=headers)


@pytest.mark.integration
async def test_the_wizard_page_shows_the_six_steps_prefectures_and_questions(
    portal: httpx.AsyncClient,
) -> None:
    page = await portal.get("/signup")
    assert page.status_code == 200
    html = page.text
    assert "セキュリティサービスポータル - 申込み" in html
    for label in (
        "① 基本情報入力",
        "② UTM送付先入力",
        "③ 追加情報入力",
        "④ ログインユーザ情報入力",
        "⑤ 確認",
        "⑥ 確認メール送信",
    ):
        assert label in html
    for text in (
        "基本情報を入力して下さい",
        "例) ○○○○○ 株式会社",
        "例) some@example.com",
        "例) 0000000",
        "(確認用)",
        "基本情報と同じ",
        "+ 追加",
        "+追加",
    ):
        assert text in html
    assert html.count('<option value="北海道">') == 2  # basic information and the destination template
    assert '<option value="沖縄県">' in html
    assert "商工会議所/商工会の会員ですか？" in html
    assert portal.cookies.get("watch_csrf")


@pytest.mark.integration
async def test_submit_needs_the_csrf_token(portal: httpx.AsyncClient) -> None:
    await _open_wizard(portal)
    response = await portal.post("/signup/applications", json=VALID, headers={"X-CSRF-Token": "wrong"})
    assert response.status_code == 403


@pytest.mark.integration
async def test_submit_forwards_and_a_repeat_returns_the_same_application(portal: httpx.AsyncClient) -> None:
    csrf = await _open_wizard(portal)
    key = uuid.uuid4().hex
    first = await _post(portal, csrf, VALID, key)
    again = await _post(portal, csrf, VALID, key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["application_number"] == again.json()["application_number"]
    assert first.json()["email"] == "some@example.com"


@pytest.mark.integration
async def test_server_side_errors_reach_the_wizard_as_field_messages(portal: httpx.AsyncClient) -> None:
    csrf = await _open_wizard(portal)
    body = json.loads(json.dumps(VALID))
    body["company"]["email_confirmation"] = "other@example.com"
    response = await _post(portal, csrf, body)
    assert response.status_code == 422
    assert response.json() == {"errors": {"company.email_confirmation": "メールアドレスが一致しません。"}}

    malformed = await portal.post(
        "/signup/applications",
        content=b"{oops",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.json() == {"errors": {"_form": "入力形式が正しくありません。"}}


@pytest.mark.integration
async def test_the_confirmation_link_completes_once_then_says_so(
    portal: httpx.AsyncClient, signup_app: FastAPI, confirmation_urls: AIOKafkaConsumer
) -> None:
    csrf = await _open_wizard(portal)
    number = (await _post(portal, csrf, VALID)).json()["application_number"]
    url = await _url_for(confirmation_urls, number)
    assert url.startswith(f"{PORTAL}/signup/confirm/")
    path = url.removeprefix(PORTAL)

    done = await portal.get(path)
    assert done.status_code == 200
    assert "申込み完了" in done.text
    assert "お申込みが完了しました。" in done.text
    assert number in done.text

    again = await portal.get(path)
    assert again.status_code == 200
    assert "このお申込みは既に完了しています。" in again.text


@pytest.mark.integration
async def test_expired_and_forged_links_get_clear_pages(
    portal: httpx.AsyncClient, signup_app: FastAPI, confirmation_urls: AIOKafkaConsumer
) -> None:
    csrf = await _open_wizard(portal)
    number = (await _post(portal, csrf, VALID)).json()["application_number"]
    path = (await _url_for(confirmation_urls, number)).removeprefix(PORTAL)
    await signup_app.state.runtime.db["applications"].update_one(
        {"_id": number}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(minutes=1)}}
    )
    expired = await portal.get(path)
    assert expired.status_code == 410
    assert "このURLは有効期限が切れています。" in expired.text

    forged = await portal.get("/signup/confirm/not-a-real-token")
    assert forged.status_code == 404
    assert "このURLは無効です。" in forged.text
    long = await portal.get("/signup/confirm/" + "x" * 2000)
    assert long.status_code == 404


async def test_signup_down_gives_clear_answers_not_500(portal_without_signup: httpx.AsyncClient) -> None:
    page = await portal_without_signup.get("/signup")
    assert page.status_code == 503
    assert "申込み受付サービスに接続できません。" in page.text

    link = await portal_without_signup.get("/signup/confirm/abc")
    assert link.status_code == 503

    portal_without_signup.cookies.set("watch_csrf", "nonce-of-this-browser")
    token = token_for(DEV_CSRF_SECRET, "nonce:nonce-of-this-browser")
    posted = await _post(portal_without_signup, token, VALID)
    assert posted.status_code == 503
    assert posted.json() == {
        "errors": {"_form": "ただいま申込みを受け付けられません。しばらくしてから再度お試しください。"}
    }


@pytest.mark.integration
async def test_operators_see_the_application_list_and_detail(
    portal: httpx.AsyncClient, confirmation_urls: AIOKafkaConsumer
) -> None:
    csrf = await _open_wizard(portal)
    pending = (await _post(portal, csrf, VALID)).json()["application_number"]
    other = {**VALID, "company": {**VALID["company"], "email": "other@example.com"}}
    other["company"]["email_confirmation"] = "other@example.com"
    confirmed = (await _post(portal, csrf, other)).json()["application_number"]
    await portal.get((await _url_for(confirmation_urls, confirmed)).removeprefix(PORTAL))
    await _log_in(portal, "operator")

    listed = await portal.get("/operator/applications")
    assert listed.status_code == 200
    assert pending in listed.text
    assert confirmed in listed.text
    assert "確認待ち" in listed.text
    assert "申込み完了" in listed.text
    only = await portal.get("/operator/applications", params={"status": "confirmed"})
    assert confirmed in only.text
    assert pending not in only.text
    odd = await portal.get("/operator/applications", params={"status": "nonsense", "page": 1})
    assert odd.status_code == 200

    detail = await portal.get(f"/operator/applications/{confirmed}")
    assert detail.status_code == 200
    assert "C-" + confirmed[4:] in detail.text
    assert "川崎市中原区下沼部1753" in detail.text
    assert "商工会議所/商工会の会員ですか？" in detail.text
    missing = await portal.get("/operator/applications/AAP-AAAAAAAA")
    assert missing.status_code == 404
    assert "申込みが見つかりません。" in missing.text
    bad_page = await portal.get("/operator/applications", params={"page": 0})
    assert bad_page.status_code == 422


@pytest.mark.integration
async def test_customers_cannot_open_the_operator_pages(portal: httpx.AsyncClient) -> None:
    await _log_in(portal, "customer")
    response = await portal.get("/operator/applications")
    assert response.status_code == 403
    assert "このページは運用担当者専用です。" in response.text
