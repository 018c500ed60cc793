"""Every call the gateway's typed clients make exists in the backend it goes to.

Each public function of ``gateway.clients.*`` is called with made-up arguments (every ``Literal``
choice, with and without its optional arguments) over a transport that records the request; each
recorded method and path must match an operation of that backend's own FastAPI app, built in-process
(its OpenAPI document; no servers). A client asking for a path the backend does not declare, like the
dashboard's ``/notices`` did, fails here.
"""

import contextlib
import importlib
import inspect
import itertools
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import gateway.clients
import gateway.routes
from gateway.backends import Backends
from gateway.clients.device_registry import Unit
from gateway.clients.support import Inquiry, Notice
from gateway.session import PortalUser

BACKEND_APPS = {
    "signup": "signup.main",
    "identity": "identity.main",
    "device-registry": "device_registry.main",
    "alert-pipeline": "alert_pipeline.main",
    "notifier": "notifier.main",
    "support": "support_desk.main",
}
USER = PortalUser(
    account_id="A-1",
    company_id="C-1",
    role="operator",
    name="運用 担当",
    email="ops@example.com",
    access_token="t",
)
Call = tuple[str, str, str]  # service, method, path


class Recorder(httpx.AsyncBaseTransport):
    """Answers every request with an empty success and remembers it."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.url.host, request.method, request.url.path))
        return httpx.Response(200, json={})


def _client_modules() -> Iterator[ModuleType]:
    for info in pkgutil.iter_modules(gateway.clients.__path__):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"gateway.clients.{info.name}")


def _operations(module: ModuleType) -> Iterator[Callable[..., Any]]:
    for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
        if not name.startswith("_") and function.__module__ == module.__name__:
            yield function


def _values(annotation: Any) -> list[Any]:
    """Made-up values of a parameter's type: every choice of a Literal, one value otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return _values(next(a for a in typing.get_args(annotation) if a is not type(None)))
    simple = {
        str: "X-1",
        int: 1,
        float: 1.0,
        bool: True,
        bytes: b"x",
        datetime: datetime(2026, 5, 1, tzinfo=UTC),
    }
    if annotation in simple:
        return [simple[annotation]]
    if origin is dict or annotation is dict:
        return [{}]
    if origin is list or annotation is list:
        return [["X-1"]]
    if annotation is PortalUser:
        return [USER]
    return [{}]


def _argument_sets(function: Callable[..., Any], backends: Backends) -> Iterator[dict[str, Any]]:
    hints = typing.get_type_hints(function, {**vars(inspect.getmodule(function)), "PortalUser": PortalUser})
    params = list(inspect.signature(function).parameters.values())
    required = [p for p in params if p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD]
    for chosen in (params, required):
        names = [p.name for p in chosen if p.name != "backends" and p.kind != p.VAR_KEYWORD]
        choices = [_values(hints.get(name, str)) for name in names]
        extra = {"company": "X-1"} if any(p.kind == p.VAR_KEYWORD for p in chosen) else {}
        for combination in itertools.product(*choices):
            yield {"backends": backends, **dict(zip(names, combination, strict=True)), **extra}


def _name(module: ModuleType, function: Callable[..., Any]) -> str:
    return f"{module.__name__.rsplit('.', 1)[1]}.{function.__name__}"


async def _recorded_calls() -> list[tuple[str, Call]]:
    recorder = Recorder()
    backends = Backends({name: f"http://{name}" for name in BACKEND_APPS}, transport=recorder)
    found: list[tuple[str, Call]] = []
    for module in _client_modules():
        for function in _operations(module):
            for arguments in _argument_sets(function, backends):
                before = len(recorder.calls)
                # An empty answer may not parse; the request was made all the same.
                with contextlib.suppress(Exception):
                    await function(**arguments)
                name = _name(module, function)
                found += [(name, call) for call in recorder.calls[before:]]
    await backends.aclose()
    return found


def _declared(service: str) -> list[tuple[str, re.Pattern[str]]]:
    app = importlib.import_module(BACKEND_APPS[service]).create_app()
    operations = []
    for path, methods in app.openapi()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        operations += [(method.upper(), pattern) for method in methods]
    return operations


async def test_every_client_call_is_an_operation_of_its_backend() -> None:
    calls = await _recorded_calls()
    declared = {service: _declared(service) for service in BACKEND_APPS}
    missing = [
        f"{name}: {method} {service}{path}"
        for name, (service, method, path) in calls
        if not any(m == method and pattern.match(path) for m, pattern in declared[service])
    ]
    assert missing == []
    # Every backend is reached through a client, and every client function made a call.
    assert {service for _, (service, _, _) in calls} == set(BACKEND_APPS)
    names = {name for name, _ in calls}
    every = {_name(m, f) for m in _client_modules() for f in _operations(m)}
    assert every - names == set()


def test_the_check_catches_a_path_the_backend_does_not_declare() -> None:
    support = _declared("support")
    assert any(m == "GET" and p.match("/notices") for m, p in support)
    assert not any(m == "GET" and p.match("/notice-board") for m, p in support)
    notifier = _declared("notifier")
    assert not any(m == "GET" and p.match("/notices") for m, p in notifier)


ROUTES = [info.name for info in pkgutil.iter_modules(gateway.routes.__path__)]
SERVICE_NAMES = re.compile(r"[\"'](signup|identity|device-registry|alert-pipeline|notifier|support)[\"']")


@pytest.mark.parametrize("module", [*ROUTES, "session", "session_store", "main"])
def test_routes_call_backends_only_through_the_clients(module: str) -> None:
    name = f"gateway.routes.{module}" if module in ROUTES else f"gateway.{module}"
    source = re.sub(r"tags=\[[^]]*\]", "", inspect.getsource(importlib.import_module(name)))
    assert ".call(" not in source
    assert "call_json" not in source
    assert not SERVICE_NAMES.search(source)  # no backend named by a string outside the clients


# The typed items the clients make of a backend's answer: (service, method, path, model).
TYPED_ANSWERS = [
    ("device-registry", "GET", "/units", Unit),
    ("device-registry", "GET", "/operator/units", Unit),
    ("support", "GET", "/inquiries", Inquiry),
    ("support", "GET", "/inquiries/{inquiry_id}", Inquiry),
    ("support", "GET", "/operator/inquiries", Inquiry),
    ("support", "GET", "/notices", Notice),
    ("support", "GET", "/notices/{notice_id}", Notice),
    ("support", "GET", "/operator/notices", Notice),
    ("support", "GET", "/operator/notices/{notice_id}", Notice),
]


def _item_schema(service: str, method: str, path: str) -> dict[str, Any]:
    """The schema of one item of an operation's JSON answer: the answer itself, the items of its list,
    or those of its page (``items`` and ``total``)."""
    document = importlib.import_module(BACKEND_APPS[service]).create_app().openapi()

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        schema = schema.get("items", schema)
        found: dict[str, Any] = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return found

    answer = document["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]
    item = resolved(answer["schema"])
    if {"items", "total"} <= set(item["properties"]):
        item = resolved(item["properties"]["items"])
    return item


def _mismatch(model: type[BaseModel], schemas: list[dict[str, Any]]) -> list[str]:
    """What the model reads that the answers do not give: a field no answer has, a required field
    one of them may leave out."""
    given = {name for schema in schemas for name in schema["properties"]}
    problems = [f"{name}: in no answer" for name in model.model_fields if name not in given]
    for schema in schemas:
        problems += [
            f"{name}: not always in {schema['title']}"
            for name, field in model.model_fields.items()
            if field.is_required() and name in given and name not in schema.get("required", [])
        ]
    return problems


@pytest.mark.parametrize("model", sorted({m for *_, m in TYPED_ANSWERS}, key=lambda m: m.__name__))
def test_typed_items_read_only_what_the_backend_answers(model: type[BaseModel]) -> None:
    schemas = [_item_schema(s, m, p) for s, m, p, typed in TYPED_ANSWERS if typed is model]
    assert _mismatch(model, schemas) == []


def test_the_item_check_catches_a_field_the_backend_does_not_give() -> None:
    class Renamed(BaseModel):
        unit_id: str
        serial: str  # the backend says serial_number

    class Demanding(BaseModel):
        unit_id: str
        company_id: str  # only the operators' list has it

    units = _item_schema("device-registry", "GET", "/units")
    assert _mismatch(Renamed, [units]) == ["serial: in no answer"]
    assert _mismatch(Demanding, [units]) == ["company_id: in no answer"]
    operator_units = _item_schema("device-registry", "GET", "/operator/units")
    assert _mismatch(Demanding, [units, operator_units]) == ["company_id: not always in UnitOut"]
