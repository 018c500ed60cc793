"""Every service's OpenAPI document, the gateway's included, exercised by Schemathesis against the
running services: no server errors, responses that match their schemas, and no status a route
returns that its document does not declare.

The services run as real processes on the test servers; each operation is called as a customer,
or an operator for operator routes (tokens signed with a key made for this run); the gateway is
called as a browser of the portal's own origin without a session. The figures (operations,
requests, failures) are printed at the end and written to test-artifacts/schemathesis.json.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import Principal, issue_token
from support.processes import ARTIFACTS, PACKAGES, Stack
from support.servers import Servers

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15
# Six processes starting at once on a busy two-core machine take longer than the usual minute.
START_TIMEOUT = 240.0
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
FIGURES: dict[str, dict[str, int]] = {}
OPERATIONS: dict[str, set[str]] = {}
GATEWAY_ORIGIN: list[str] = []


def _keys() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE_KEY, PUBLIC_KEY = _keys()


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    stack = Stack(servers)
    for name in PACKAGES:
        stack.add(name, AUTH_TOKEN_PUBLIC_KEY=PUBLIC_KEY)
    stack.services["identity"].env["IDENTITY_TOKEN_PRIVATE_KEY"] = PRIVATE_KEY
    stack.services["gateway"].env["GATEWAY_COOKIE_SECURE"] = "false"
    try:
        for service in stack.services.values():
            service.env = {**stack.base_env(), **service.env}
            service.start(wait=False)
        for service in stack.services.values():
            service.wait_ready(START_TIMEOUT)
        yield stack
    finally:
        stack.stop()
        _report()


def _report() -> None:
    total = {key: sum(f[key] for f in FIGURES.values()) for key in ("operations", "requests", "failures")}
    summary = {"services": FIGURES, "total": total}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps(summary, indent=2))
    print(f"\nschemathesis: {json.dumps(total)}")


def _schema(stack: Stack, service: str) -> Any:
    return schemathesis.openapi.from_url(f"{stack.services[service].url}/openapi.json")


@pytest.fixture(scope="module")
def signup_api(stack: Stack) -> Any:
    return _schema(stack, "signup")


@pytest.fixture(scope="module")
def identity_api(stack: Stack) -> Any:
    return _schema(stack, "identity")


@pytest.fixture(scope="module")
def device_registry_api(stack: Stack) -> Any:
    return _schema(stack, "device-registry")


@pytest.fixture(scope="module")
def alert_pipeline_api(stack: Stack) -> Any:
    return _schema(stack, "alert-pipeline")


@pytest.fixture(scope="module")
def notifier_api(stack: Stack) -> Any:
    return _schema(stack, "notifier")


@pytest.fixture(scope="module")
def gateway_api(stack: Stack) -> Any:
    GATEWAY_ORIGIN[:] = [stack.services["gateway"].url]
    return _schema(stack, "gateway")


CUSTOMER = Principal(account_id="A-SCHEMA0001", company_id="C-SCHEMA01", role="customer")
OPERATOR = Principal(account_id="A-operator", company_id="operator", role="operator")


def _exercise(service: str, case: Any) -> None:
    """Call the operation as an operator (operator routes) or a customer; every answer is checked."""
    figures = FIGURES.setdefault(service, {"operations": 0, "requests": 0, "failures": 0})
    seen = OPERATIONS.setdefault(service, set())
    seen.add(case.operation.label)
    figures["operations"] = len(seen)
    operator_route = "operator" in (case.operation.tags or []) or "/operator" in case.operation.path
    principal = OPERATOR if operator_route else CUSTOMER
    headers = {"Authorization": f"Bearer {issue_token(principal, private_key=PRIVATE_KEY)}"}
    if service == "gateway":
        headers = {"Origin": GATEWAY_ORIGIN[0]}
    figures["requests"] += 1
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    except Exception:
        figures["failures"] += 1
        raise


def _runs(name: str, fixture: str) -> Any:
    schema = schemathesis.pytest.from_fixture(fixture)

    @schema.parametrize()
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def run(case: Any) -> None:
        _exercise(name, case)

    return run


test_signup = _runs("signup", "signup_api")
test_identity = _runs("identity", "identity_api")
test_device_registry = _runs("device-registry", "device_registry_api")
test_alert_pipeline = _runs("alert-pipeline", "alert_pipeline_api")
test_notifier = _runs("notifier", "notifier_api")
test_gateway = _runs("gateway", "gateway_api")
