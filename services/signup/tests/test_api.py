"""The signup HTTP API against the real MongoDB and Kafka: every endpoint, good and bad input."""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY, KafkaSettings, MongoSettings
from shared.topics import APPLICATION_CONFIRMATION_REQUESTED, APPLICATION_SUBMITTED
from signup.main import create_app
from signup.models import APPLICATION_NUMBER_PATTERN, Application, ApplicationForm, ApplicationStatus, Company
from signup.repository import DuplicateApplication, MongoApplicationRepository
from signup.settings import Settings

pytestmark = pytest.mark.integration

Form = Callable[..., dict[str, Any]]
PUBLIC_URL = "http://portal.test"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        if os.environ.get("WATCH_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{name} is not set")
        pytest.skip(f"{name} is not set: the real servers are needed")
    return value


class Events:
    """Reads the signup topics from where they ended when the test began."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    async def wait_for(
        self, topic: str, predicate: Callable[[dict[str, Any]], bool], within: float = 15.0
    ) -> tuple[str, dict[str, Any]]:
        """The first (key, value) on ``topic`` matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for seen_topic, key, value in self.seen:
                if seen_topic == topic and predicate(value):
                    return key, value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no matching event on {topic} within {within}s")
            batches = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batches.values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    self.seen.append((record.topic, key, json.loads(record.value)))

    async def matching(self, topic: str, predicate: Callable[[dict[str, Any]], bool], wait: float) -> int:
        """How many events on ``topic`` match after reading for ``wait`` seconds."""
        with pytest.raises(AssertionError):
            await self.wait_for(topic, lambda _: False, within=wait)
        return sum(1 for t, _, v in self.seen if t == topic and predicate(v))


@pytest.fixture
async def events() -> AsyncIterator[Events]:
    consumer = AIOKafkaConsumer(bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS"), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in (APPLICATION_CONFIRMATION_REQUESTED, APPLICATION_SUBMITTED)
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        yield Events(consumer)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or {0}


@pytest.fixture
async def database_name() -> AsyncIterator[str]:
    name = f"signup_test_{uuid.uuid4().hex[:12]}"
    yield name
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(_env("MONGODB_URI"))
    await client.drop_database(name)
    await client.close()


@pytest.fixture
async def app_client(database_name: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = Settings(
        database=database_name,
        kafka=KafkaSettings(bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS")),
        mongo=MongoSettings(uri=_env("MONGODB_URI")),
        public_url=PUBLIC_URL,
        outbox_interval_seconds=0.5,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signup") as client,
    ):
        yield client, app.state.runtime.db


@pytest.fixture
def client(app_client: tuple[httpx.AsyncClient, Any]) -> httpx.AsyncClient:
    return app_client[0]


@pytest.fixture
def db(app_client: tuple[httpx.AsyncClient, Any]) -> Any:
    return app_client[1]


def _bearer(role: str) -> dict[str, str]:
    principal = Principal(account_id="a-1", company_id="" if role == "operator" else "C-X", role=role)
    return {"Authorization": f"Bearer {issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY)}"}


OPERATOR = _bearer("operator")
CUSTOMER = _bearer("customer")


async def _submit(client: httpx.AsyncClient, form: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/applications", json=form, headers=headers)


async def _token_of(events: Events, number: str) -> str:
    key, value = await events.wait_for(
        APPLICATION_CONFIRMATION_REQUESTED, lambda v: v["application_number"] == number
    )
    assert key == number
    url: str = value["confirmation_url"]
    assert url.startswith(f"{PUBLIC_URL}/signup/confirm/")
    return url.rsplit("/", 1)[1]


async def test_submit_stores_pending_and_publishes_the_confirmation_request(
    client: httpx.AsyncClient, db: Any, events: Events, form: Form
) -> None:
    response = await _submit(client, form())
    assert response.status_code == 201, response.text
    body = response.json()
    number = body["application_number"]
    assert APPLICATION_NUMBER_PATTERN.match(number)
    assert body["status"] == "pending"
    assert body["email"] == "some@example.com"

    key, event = await events.wait_for(
        APPLICATION_CONFIRMATION_REQUESTED, lambda v: v["application_number"] == number
    )
    assert key == number
    assert event["email"] == "some@example.com"
    assert event["company_name"] == "日本電気株式会社"
    assert event["contact_name"] == "日電 太郎"
    assert event["expires_at"] == body["expires_at"].replace("+00:00", "Z") or event["expires_at"]
    token = event["confirmation_url"].rsplit("/", 1)[1]
    stored = await db["applications"].find_one({"_id": number})
    assert stored["status"] == "pending"
    assert token not in json.dumps(stored, default=str)
    assert stored["company"]["postal_code"] == "2118666"


async def test_a_double_click_creates_one_application(
    client: httpx.AsyncClient, db: Any, events: Events, form: Form
) -> None:
    key = uuid.uuid4().hex
    first, second = await asyncio.gather(_submit(client, form(), key), _submit(client, form(), key))
    third = await _submit(client, form(), key)
    numbers = {r.json()["application_number"] for r in (first, second, third)}
    assert len(numbers) == 1
    assert sorted([first.status_code, second.status_code, third.status_code]) == [200, 200, 201]
    assert await db["applications"].count_documents({}) == 1
    [number] = numbers
    assert (
        await events.matching(
            APPLICATION_CONFIRMATION_REQUESTED, lambda v: v["application_number"] == number, wait=1.5
        )
        == 1
    )


async def test_invalid_input_gets_structured_japanese_errors(client: httpx.AsyncClient, form: Form) -> None:
    raw = form()
    raw["company"]["email_confirmation"] = "other@example.com"
    raw["company"]["postal_code"] = "12-345"
    raw["destinations"][0]["units"] = 11
    raw["login_users"] = []
    response = await _submit(client, raw)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "company.email_confirmation": "メールアドレスが一致しません。",
            "company.postal_code": "郵便番号は7桁の数字で入力してください。",
            "destinations.0.units": "台数は合計10台までです。",
            "login_users": "ログインユーザを1名以上入力してください。",
        }
    }


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "_form"),
        (b"[]", "_form"),
        (b'"text"', "_form"),
        (b'{"company": 5}', "company"),
        (b'{"company": {"company_name": 12}}', "company.company_name"),
        (b'{"destinations": "x"}', "destinations"),
        (b'{"answers": {"chamber_member": [1]}}', "answers.chamber_member"),
    ],
)
async def test_malformed_bodies_are_a_422_not_a_500(
    client: httpx.AsyncClient, content: bytes, field: str
) -> None:
    response = await client.post(
        "/applications", content=content, headers={"Content-Type": "application/json", "Idempotency-Key": "m"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][field] == "入力形式が正しくありません。"


async def test_an_empty_object_lists_every_required_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/applications", json={})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors["company.company_name"] == "会社名を入力してください。"
    assert errors["destinations"] == "UTM送付先を1件以上入力してください。"
    assert errors["answers.chamber_member"] == "選択してください。"


async def test_confirm_completes_once_and_publishes_application_submitted(
    client: httpx.AsyncClient, db: Any, events: Events, form: Form
) -> None:
    number = (await _submit(client, form())).json()["application_number"]
    token = await _token_of(events, number)

    first = await client.post("/applications/confirm", json={"token": token})
    assert first.status_code == 200
    assert first.json() == {
        "status": "completed",
        "application_number": number,
        "company_name": "日本電気株式会社",
        "email": "some@example.com",
    }
    key, event = await events.wait_for(APPLICATION_SUBMITTED, lambda v: v["application_number"] == number)
    company_id = "C-" + number[4:]
    assert key == company_id == event["company_id"]
    assert event["company"]["company_name"] == "日本電気株式会社"
    assert event["destinations"][0]["units"] == 1
    assert event["login_users"] == [{"name": "日電 太郎", "email": "some@example.com", "mobile": ""}]
    assert event["answers"][0] == {
        "question_id": "chamber_member",
        "question": "商工会議所/商工会の会員ですか？",
        "answer": "非会員",
    }

    again = await client.post("/applications/confirm", json={"token": token})
    assert again.status_code == 200
    assert again.json()["status"] == "already_completed"
    assert (
        await events.matching(APPLICATION_SUBMITTED, lambda v: v["application_number"] == number, wait=1.5)
        == 1
    )
    stored = await db["applications"].find_one({"_id": number})
    assert stored["status"] == "confirmed"
    assert stored["submitted_published"] is True


async def test_an_expired_link_is_410_and_publishes_nothing(
    client: httpx.AsyncClient, db: Any, events: Events, form: Form
) -> None:
    number = (await _submit(client, form())).json()["application_number"]
    token = await _token_of(events, number)
    await db["applications"].update_one(
        {"_id": number}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    response = await client.post("/applications/confirm", json={"token": token})
    assert response.status_code == 410
    assert response.json()["status"] == "expired"
    assert response.json()["application_number"] == number
    listed = await client.get("/applications", params={"status": "expired"}, headers=OPERATOR)
    assert [a["application_number"] for a in listed.json()["items"]] == [number]


@pytest.mark.parametrize("body", [{"token": "forged-token"}, {"token": ""}, {"token": "a" * 300}])
async def test_a_forged_link_is_404_invalid(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/applications/confirm", json=body)
    assert response.status_code == 404
    assert response.json() == {
        "status": "invalid",
        "application_number": None,
        "company_name": None,
        "email": None,
    }


@pytest.mark.parametrize("body", [{}, {"token": 5}, {"token": "a" * 501}])
async def test_a_malformed_confirm_body_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/applications/confirm", json=body)
    assert response.status_code == 422
    assert "errors" in response.json()


async def test_the_outbox_publishes_a_confirmation_that_missed_kafka(
    client: httpx.AsyncClient, db: Any, events: Events, form: Form
) -> None:
    number = (await _submit(client, form())).json()["application_number"]
    event_id = str(uuid.uuid4())
    # As if the service crashed between recording the confirmation and publishing it.
    await db["applications"].update_one(
        {"_id": number},
        {
            "$set": {
                "status": "confirmed",
                "confirmed_at": datetime.now(UTC),
                "submitted_event_id": event_id,
                "submitted_published": False,
            }
        },
    )
    key, _ = await events.wait_for(APPLICATION_SUBMITTED, lambda v: v["event_id"] == event_id)
    assert key == "C-" + number[4:]
    for _ in range(50):
        if (await db["applications"].find_one({"_id": number}))["submitted_published"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the outbox flag was not cleared")


async def test_operators_list_and_read_applications(
    client: httpx.AsyncClient, events: Events, form: Form
) -> None:
    pending = (await _submit(client, form())).json()["application_number"]
    other = form()
    other["company"]["email"] = other["company"]["email_confirmation"] = "other@example.com"
    confirmed = (await _submit(client, other)).json()["application_number"]
    await client.post("/applications/confirm", json={"token": await _token_of(events, confirmed)})

    listed = await client.get("/applications", headers=OPERATOR)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2
    assert {a["application_number"]: a["status"] for a in body["items"]} == {
        pending: "pending",
        confirmed: "confirmed",
    }
    only = await client.get("/applications", params={"status": "confirmed"}, headers=OPERATOR)
    assert [a["application_number"] for a in only.json()["items"]] == [confirmed]

    detail = await client.get(f"/applications/{confirmed}", headers=OPERATOR)
    assert detail.status_code == 200
    assert detail.json()["company_id"] == "C-" + confirmed[4:]
    assert detail.json()["destinations"][0]["prefecture"] == "神奈川県"
    assert detail.json()["submitted_published"] is True


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/applications", {}, 401),
        ("GET", "/applications", {"Authorization": "Bearer nonsense"}, 401),
        ("GET", "/applications", CUSTOMER, 403),
        ("GET", "/applications/AAP-AAAAAAAA", CUSTOMER, 403),
        ("GET", "/applications/AAP-AAAAAAAA", OPERATOR, 404),
        ("GET", "/applications/not-a-number", OPERATOR, 404),
        ("GET", "/applications?status=unknown", OPERATOR, 422),
        ("GET", "/applications?limit=0", OPERATOR, 422),
        ("GET", "/applications?offset=-1", OPERATOR, 422),
        ("PUT", "/questions", {}, 401),
        ("PUT", "/questions", CUSTOMER, 403),
    ],
)
async def test_operator_endpoints_refuse_clearly(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = await client.request(method, path, headers=headers, json={"questions": []})
    assert response.status_code == status


async def test_questions_default_then_operator_replaces_them(client: httpx.AsyncClient, form: Form) -> None:
    default = (await client.get("/questions")).json()["questions"]
    assert [q["question_id"] for q in default] == ["chamber_member", "chamber_name", "member_number"]
    assert default[0] == {
        "question_id": "chamber_member",
        "text": "商工会議所/商工会の会員ですか？",
        "kind": "choice",
        "options": ["会員", "非会員"],
        "required": True,
        "required_when": None,
    }
    assert default[2]["required_when"] == {"question_id": "chamber_member", "answer": "会員"}

    bad = await client.put(
        "/questions", json={"questions": [{"question_id": "X", "text": ""}]}, headers=OPERATOR
    )
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"questions.0.question_id", "questions.0.text"}
    wrong_kind = await client.put(
        "/questions",
        json={"questions": [{"question_id": "a", "text": "q", "kind": "date"}]},
        headers=OPERATOR,
    )
    assert wrong_kind.status_code == 422

    emptied = await client.put("/questions", json={"questions": []}, headers=OPERATOR)
    assert emptied.status_code == 200
    assert (await client.get("/questions")).json() == {"questions": []}
    assert (await _submit(client, form(answers={}))).status_code == 201

    restored = await client.put("/questions", json={"questions": default}, headers=OPERATOR)
    assert restored.json()["questions"] == default


async def test_prefectures_reference(client: httpx.AsyncClient) -> None:
    prefectures = (await client.get("/reference/prefectures")).json()["prefectures"]
    assert len(prefectures) == 47
    assert prefectures[0] == "北海道"
    assert prefectures[-1] == "沖縄県"


async def test_openapi_documents_every_endpoint(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/applications",
        "/applications/confirm",
        "/applications/{application_number}",
        "/questions",
        "/reference/prefectures",
    }
    assert set(paths["/applications"]["post"]["responses"]) >= {"201", "200", "422", "503"}
    assert set(paths["/applications/confirm"]["post"]["responses"]) >= {"200", "404", "410"}
    assert "examples" in spec["components"]["schemas"]["ApplicationIn"]


async def test_the_unique_indexes_hold_in_mongodb(db: Any) -> None:
    repo = MongoApplicationRepository(db)
    form = ApplicationForm(
        company=Company(
            "会社", "姓", "名", "", "", "a@example.com", "1000001", "東京都", "千代田区", "0312345678"
        ),
        destinations=(),
        login_users=(),
        answers=(),
    )
    now = datetime.now(UTC)

    def application(number: str, key: str, token_hash: str) -> Application:
        return Application(
            number, form, ApplicationStatus.PENDING, token_hash, key, now, now + timedelta(hours=1)
        )

    await repo.add(application("AAP-AAAAAAAA", "k1", "h1"))
    with pytest.raises(DuplicateApplication) as same_number:
        await repo.add(application("AAP-AAAAAAAA", "k2", "h2"))
    assert same_number.value.field == "application_number"
    with pytest.raises(DuplicateApplication) as same_key:
        await repo.add(application("AAP-BBBBBBBB", "k1", "h3"))
    assert same_key.value.field == "idempotency_key"
