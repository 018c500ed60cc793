"""The registry's HTTP API against a real MongoDB: shipments, registration, isolation, rate limit."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from device_registry import api
from device_registry.service import DeviceRegistry
from shared.auth import Principal
from shared.events import (
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    LoginUser,
    UtmRegistered,
    UtmShipped,
    UtmStatusChanged,
)
from shared.settings import DEV_TOKEN_PUBLIC_KEY
from support.mongo_filters import FilterLog
from support.service_api import Clock, Published, bearer, scratch_database

pytestmark = pytest.mark.integration


class Env:
    def __init__(
        self,
        registry: DeviceRegistry,
        published: Published,
        clock: Clock,
        http: httpx.AsyncClient,
        filters: FilterLog,
    ) -> None:
        self.registry, self.published, self.clock, self.http = registry, published, clock, http
        self.filters = filters

    def headers(self, company_id: str, role: str = "customer") -> dict[str, str]:
        return bearer(Principal(account_id=f"A-{company_id}", company_id=company_id, role=role))

    @property
    def operator(self) -> dict[str, str]:
        return self.headers("", "operator")


@pytest.fixture
async def env(servers: Any) -> AsyncIterator[Env]:
    clock = Clock(datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    published = Published(clock)
    filters = FilterLog()
    async with scratch_database(servers.mongodb_uri, "device-registry-test", listeners=[filters]) as db:
        registry = DeviceRegistry(db, publish=published, now=clock)
        await registry.create_indexes()
        app = FastAPI()
        app.include_router(api.router)
        app.state.registry = registry
        app.state.token_public_key = DEV_TOKEN_PUBLIC_KEY
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registry"
        ) as http:
            yield Env(registry, published, clock, http, filters)


def _application(company_id: str, units: int = 2) -> ApplicationSubmitted:
    destination = DeliveryDestination(
        destination_id="D1", company_name="日本電気株式会社", last_name="日電", first_name="太郎",
        postal_code="2118666", prefecture="神奈川県", address="川崎市中原区下沼部1753", phone="01023456789",
        units=units,
    )  # fmt: skip
    return ApplicationSubmitted(
        application_number="AAP-TEST", company_id=company_id,
        company=CompanyProfile(
            company_name="日本電気株式会社", last_name="日電", first_name="太郎", email="a@example.com",
            postal_code="2118666", prefecture="神奈川県", address="川崎市中原区下沼部1753",
            phone="01023456789",
        ),
        destinations=[destination], login_users=[LoginUser(name="日電 太郎", email="a@example.com")],
    )  # fmt: skip


async def _ship(
    env: Env, unit_id: str, serial: str, mac: str, code: str = "7K2M-9QXD-4ABF"
) -> httpx.Response:
    body = {"serial_number": serial, "mac_address": mac, "registration_code": code}
    return await env.http.post(f"/operator/units/{unit_id}/shipment", json=body, headers=env.operator)


async def test_expected_units_are_created_once_per_application(env: Env) -> None:
    event = _application("C-A", units=3)
    assert await env.registry.expect_units(event) == 3
    assert await env.registry.expect_units(event) == 0
    units = (await env.http.get("/units", headers=env.headers("C-A"))).json()
    assert [u["status"] for u in units] == ["expected"] * 3
    summary = (await env.http.get("/units/summary", headers=env.headers("C-A"))).json()
    assert summary == {
        "expected": 3,
        "shipped": 0,
        "registered": 0,
        "unregistered": 0,
        "online": 0,
        "offline": 0,
    }


async def test_default_unit_names_are_unique_across_destinations(env: Env) -> None:
    event = _application("C-N", units=1)
    second = event.destinations[0].model_copy(update={"destination_id": "D2", "units": 2})
    event = event.model_copy(update={"destinations": [event.destinations[0], second]})
    await env.registry.expect_units(event)
    units = (await env.http.get("/units", headers=env.headers("C-N"))).json()
    assert sorted(u["name"] for u in units) == [
        "日本電気株式会社 UTM-1",
        "日本電気株式会社 UTM-2",
        "日本電気株式会社 UTM-3",
    ]


async def test_shipment_then_registration_by_mac_or_serial(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    shipped = await _ship(env, "C-A-D1-1", "fgt60ftk2109abcd", "00-09-0f-aa-bb-cc")
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["mac_address"] == "00:09:0F:AA:BB:CC"
    assert shipped.json()["serial_number"] == "FGT60FTK2109ABCD"
    assert isinstance(env.published[-1], UtmShipped)
    await _ship(env, "C-A-D1-2", "FGT60FTK2109ABCE", "00:09:0F:AA:BB:CD", code="ZZZZ-1111")
    summary = (await env.http.get("/units/summary", headers=env.headers("C-A"))).json()
    assert (summary["shipped"], summary["unregistered"]) == (2, 2)

    by_mac = await env.http.post(
        "/units/register",
        json={"identifier": "00:09:0f:aa:bb:cc", "registration_code": "7k2m9qxd4abf", "name": "本社 UTM-1"},
        headers=env.headers("C-A"),
    )
    assert by_mac.status_code == 200, by_mac.text
    assert by_mac.json()["status"] == "registered"
    registered = env.published[-1]
    assert isinstance(registered, UtmRegistered)
    assert (registered.company_id, registered.name) == ("C-A", "本社 UTM-1")

    by_serial = await env.http.post(
        "/units/register",
        json={"identifier": "FGT60FTK2109ABCE", "registration_code": "ZZZZ1111"},
        headers=env.headers("C-A"),
    )
    assert by_serial.status_code == 200
    again = await env.http.post(
        "/units/register",
        json={"identifier": "FGT60FTK2109ABCE", "registration_code": "ZZZZ1111"},
        headers=env.headers("C-A"),
    )
    assert again.status_code == 409
    summary = (await env.http.get("/units/summary", headers=env.headers("C-A"))).json()
    assert (summary["registered"], summary["unregistered"]) == (2, 0)


async def test_a_registration_whose_event_failed_is_announced_later_by_the_outbox(env: Env) -> None:
    await env.registry.expect_units(_application("C-O", units=1))
    await _ship(env, "C-O-D1-1", "FGT60FOUTBOX0001", "00:09:0F:00:00:01", code="ABCD-2345")
    env.clock.broker_down = True
    registered = await env.http.post(
        "/units/register",
        json={"identifier": "FGT60FOUTBOX0001", "registration_code": "ABCD-2345", "name": "倉庫 UTM"},
        headers=env.headers("C-O"),
    )
    assert registered.status_code == 200, registered.text  # stored: the event follows it
    assert not any(isinstance(e, UtmRegistered) for e in env.published)
    env.clock.broker_down = False
    assert await env.registry.publish_unannounced() == 0  # younger than the grace: its request's

    env.clock.now += timedelta(seconds=11)
    assert await env.registry.publish_unannounced() == 1
    assert await env.registry.publish_unannounced() == 0

    [event] = [e for e in env.published if isinstance(e, UtmRegistered)]
    assert (event.company_id, event.unit_id, event.serial_number, event.mac_address, event.name) == (
        "C-O", "C-O-D1-1", "FGT60FOUTBOX0001", "00:09:0F:00:00:01", "倉庫 UTM",
    )  # fmt: skip


async def test_a_shipment_published_with_its_write_is_not_published_again(env: Env) -> None:
    await env.registry.expect_units(_application("C-P", units=1))
    await _ship(env, "C-P-D1-1", "FGT60FOUTBOX0002", "00:09:0F:00:00:02")
    env.clock.now += timedelta(minutes=5)
    assert await env.registry.publish_unannounced() == 0
    assert [type(e).__name__ for e in env.published] == ["UtmShipped"]


async def test_wrong_code_is_a_clear_error(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    wrong = await env.http.post(
        "/units/register",
        json={"identifier": "FGT60FTK2109ABCD", "registration_code": "AAAA-BBBB"},
        headers=env.headers("C-A"),
    )
    assert wrong.status_code == 400
    assert wrong.json()["detail"].startswith("登録コードが正しくありません")


async def test_another_companys_unit_cannot_be_registered_listed_or_seen(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await env.registry.expect_units(_application("C-B"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")

    stolen = await env.http.post(
        "/units/register",
        json={"identifier": "00:09:0F:AA:BB:CC", "registration_code": "7K2M-9QXD-4ABF"},
        headers=env.headers("C-B"),
    )
    unknown = await env.http.post(
        "/units/register",
        json={"identifier": "00:09:0F:00:00:01", "registration_code": "7K2M-9QXD-4ABF"},
        headers=env.headers("C-B"),
    )
    assert stolen.status_code == unknown.status_code == 404
    assert stolen.json() == unknown.json()
    listed = (await env.http.get("/units", headers=env.headers("C-B"))).json()
    assert all(u["unit_id"].startswith("C-B-") for u in listed)
    seen = await env.http.get("/units/C-A-D1-1", headers=env.headers("C-B"))
    assert seen.status_code == 404
    own = await env.http.get("/units/C-A-D1-1", headers=env.headers("C-A"))
    assert own.status_code == 200


async def test_failures_are_rate_limited_per_company(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await env.registry.expect_units(_application("C-B"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    body = {"identifier": "FGT60FTK2109ABCD", "registration_code": "WRONG-CODE"}
    statuses = [
        (await env.http.post("/units/register", json=body, headers=env.headers("C-A"))).status_code
        for _ in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    good = {"identifier": "FGT60FTK2109ABCD", "registration_code": "7K2M-9QXD-4ABF"}
    locked = await env.http.post("/units/register", json=good, headers=env.headers("C-A"))
    assert locked.status_code == 429
    assert "しばらく登録できません" in locked.json()["detail"]
    other = await env.http.post("/units/register", json=body, headers=env.headers("C-B"))
    assert other.status_code == 404
    env.clock.now += timedelta(minutes=16)
    unlocked = await env.http.post("/units/register", json=good, headers=env.headers("C-A"))
    assert unlocked.status_code == 200


async def test_operator_endpoints_need_the_operator_role(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    denied = await env.http.get("/operator/units", headers=env.headers("C-A"))
    assert denied.status_code == 403
    listed = await env.http.get("/operator/units", params={"company_id": "C-A"}, headers=env.operator)
    assert [u["unit_id"] for u in listed.json()] == ["C-A-D1-1", "C-A-D1-2"]
    bad_mac = await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "not-a-mac")
    assert bad_mac.status_code == 422
    assert "MACアドレス" in bad_mac.json()["detail"]


async def test_duplicate_serial_is_refused(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    clash = await _ship(env, "C-A-D1-2", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CD")
    assert clash.status_code == 409


async def test_silent_units_go_offline_and_come_back(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    await env.registry.register("C-A", identifier="FGT60FTK2109ABCD", registration_code="7K2M-9QXD-4ABF")
    await env.registry.apply_seen({"FGT60FTK2109ABCD": env.clock.now})
    assert (await env.registry.summary("C-A"))["online"] == 1

    env.clock.now += timedelta(minutes=5)
    assert await env.registry.sweep() == 0
    env.clock.now += timedelta(minutes=6)
    assert await env.registry.sweep() == 1
    assert await env.registry.sweep() == 0
    offline = env.published[-1]
    assert isinstance(offline, UtmStatusChanged)
    assert offline.status == "offline"
    units = (await env.http.get("/units", headers=env.headers("C-A"))).json()
    assert units[0]["connection"] == "offline"

    assert await env.registry.apply_seen({"FGT60FTK2109ABCD": env.clock.now}) == 1
    online = env.published[-1]
    assert isinstance(online, UtmStatusChanged)
    assert online.status == "online"
    assert (await env.registry.summary("C-A"))["online"] == 1


async def test_a_unit_never_heard_goes_offline_and_the_sweep_reads_through_indexes(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    await _ship(env, "C-A-D1-2", "FGT60FTK2109ABCE", "00:09:0F:AA:BB:CD", code="7K2M-9QXD-4ABG")
    await env.registry.register("C-A", identifier="FGT60FTK2109ABCD", registration_code="7K2M-9QXD-4ABF")
    await env.registry.register("C-A", identifier="FGT60FTK2109ABCE", registration_code="7K2M-9QXD-4ABG")
    await env.registry.apply_seen({"FGT60FTK2109ABCE": env.clock.now})

    env.clock.now += timedelta(minutes=11)
    assert await env.registry.sweep() == 2  # one never heard, one silent since
    assert await env.registry.sweep() == 0
    offline = [e for e in env.published if isinstance(e, UtmStatusChanged)]
    assert sorted((e.serial_number, e.status) for e in offline) == [
        ("FGT60FTK2109ABCD", "offline"),
        ("FGT60FTK2109ABCE", "offline"),
    ]
    assert await env.registry.apply_seen({"FGT60FTK2109ABCD": env.clock.now}) == 1
    assert not env.filters.with_or("units")


async def test_last_seen_moves_by_the_minute_and_only_for_registered_units(env: Env) -> None:
    await env.registry.expect_units(_application("C-A"))
    await _ship(env, "C-A-D1-1", "FGT60FTK2109ABCD", "00:09:0F:AA:BB:CC")
    await _ship(env, "C-A-D1-2", "FGT60FTK2109ABCE", "00:09:0F:AA:BB:CD")
    await env.registry.register("C-A", identifier="FGT60FTK2109ABCD", registration_code="7K2M-9QXD-4ABF")
    first = env.clock.now

    async def last_seen(unit_id: str) -> datetime | None:
        doc = await env.registry.units.find_one({"_id": unit_id})
        assert doc is not None
        return doc.get("last_seen_at")

    # Heard from both; only the registered unit records it (the shipped one is not watched yet).
    await env.registry.apply_seen({"FGT60FTK2109ABCD": first, "FGT60FTK2109ABCE": first})
    assert await last_seen("C-A-D1-1") == first
    assert await last_seen("C-A-D1-2") is None
    # Within the minute the stored time stays; a minute on it moves; a time from the future is
    # recorded as now.
    await env.registry.apply_seen({"FGT60FTK2109ABCD": first + timedelta(seconds=59)})
    assert await last_seen("C-A-D1-1") == first
    env.clock.now = first + timedelta(minutes=3)
    await env.registry.apply_seen({"FGT60FTK2109ABCD": first + timedelta(minutes=1)})
    assert await last_seen("C-A-D1-1") == first + timedelta(minutes=1)
    await env.registry.apply_seen({"FGT60FTK2109ABCD": first + timedelta(hours=1)})
    assert await last_seen("C-A-D1-1") == env.clock.now
    # An older time never moves it back.
    await env.registry.apply_seen({"FGT60FTK2109ABCD": first})
    assert await last_seen("C-A-D1-1") == env.clock.now
