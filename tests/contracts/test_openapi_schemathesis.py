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
from hypothesis import HealthCheck, Phase, given, settings
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
        stack.start(timeout=START_TIMEOUT)
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


CUSTOMER = Principal(account_id="A-SCHEMA0001", company_id="C-SCHEMA01", role="customer")
OPERATOR = Principal(account_id="A-operator", company_id="operator", role="operator")


def _headers(service: str, operation: Any, gateway_url: str) -> dict[str, str]:
    """A customer's token, an operator's for operator routes; the gateway gets a same-origin browser."""
    if service == "gateway":
        return {"Origin": gateway_url}
    operator_route = "operator" in (operation.tags or []) or "/operator" in operation.path
    principal = OPERATOR if operator_route else CUSTOMER
    return {"Authorization": f"Bearer {issue_token(principal, private_key=PRIVATE_KEY)}"}


def _summary(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines[:14]) or type(exc).__name__


def _run_operation(service: str, operation: Any, headers: dict[str, str]) -> list[str]:
    """Up to MAX_EXAMPLES generated requests to one operation; the distinct failures found."""
    figures = FIGURES[service]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        figures["requests"] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # Hypothesis re-raises the failures it kept, grouped
        found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
        figures["failures"] += len(found)
        return [f"{operation.label}: {_summary(exc)}"]
    return []


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_every_operation_holds_to_its_openapi_document(stack: Stack, service: str) -> None:
    gateway_url = stack.services["gateway"].url
    schema = schemathesis.openapi.from_url(f"{stack.services[service].url}/openapi.json")
    FIGURES[service] = {"operations": 0, "requests": 0, "failures": 0}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        FIGURES[service]["operations"] += 1
        failures.extend(_run_operation(service, operation, _headers(service, operation, gateway_url)))
    assert not failures, "\n".join(failures)
