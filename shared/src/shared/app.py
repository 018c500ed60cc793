"""The composition every service shares: lifespan of Kafka and MongoDB, health, metrics, logs."""

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import CurrentOperator, CurrentPrincipal
from shared.body_limits import BodyLimits
from shared.deadletter import DeadLetters
from shared.events import Event
from shared.kafka import create_broker, declare_publishers, publish
from shared.logging import configure_logging
from shared.openapi import problem
from shared.settings import CommonSettings, KafkaSettings, MongoSettings, ServiceSettings

log = logging.getLogger(__name__)

Hook = Callable[["ServiceRuntime"], Awaitable[None]]


@dataclass
class ServiceRuntime:
    """What a running service holds: its settings, broker and database."""

    name: str
    # A service that uses neither Kafka nor MongoDB (the gateway) has only ServiceSettings here; its
    # code never reads the Kafka or MongoDB settings (``db`` refuses).
    settings: CommonSettings
    broker: KafkaBroker
    mongo: AsyncMongoClient
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    dead_letters: DeadLetters = field(default_factory=lambda: DeadLetters("unnamed"))
    # Extra readiness checks: name → a function giving None when fine, else what is wrong.
    readiness: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def db(self) -> AsyncDatabase:
        if not isinstance(self.settings, CommonSettings):
            raise RuntimeError(f"{self.name} has no database")
        return self.mongo[self.settings.database]

    async def publish(self, event: Event, key: str) -> None:
        """Publish ``event`` to its topic, keyed by its aggregate id (company or unit)."""
        await publish(self.broker, event, key=key)

    def spawn(self, coro: Awaitable[Any], *, name: str) -> None:
        """Run ``coro`` for the life of the service; it is cancelled at shutdown."""
        self.background.append(asyncio.ensure_future(coro))
        self.background[-1].set_name(name)


def create_runtime(
    name: str, settings: ServiceSettings, *, publishes: Sequence[type[Event]] = ()
) -> ServiceRuntime:
    """Build (without connecting) the broker and Mongo client of a service.

    ``publishes`` lists the events the service produces, for its AsyncAPI document. A service whose
    settings name no Kafka and no MongoDB (the gateway) gets a broker and a client it never starts.
    """
    if isinstance(settings, CommonSettings):
        kafka, mongo = settings.kafka, settings.mongo
    else:
        kafka, mongo = KafkaSettings(), MongoSettings()
    registry = CollectorRegistry()
    dead_letters = DeadLetters(name, registry)
    broker = create_broker(kafka, service=name, dead_letters=dead_letters)
    declare_publishers(broker, *publishes)
    return ServiceRuntime(
        name=name,
        settings=cast(CommonSettings, settings),
        broker=broker,
        mongo=AsyncMongoClient(mongo.uri, tz_aware=True, connect=False, appname=name),
        registry=registry,
        dead_letters=dead_letters,
    )


def build_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    version: str = "0.1.0",
    dependencies: Sequence[str] = ("kafka", "mongodb"),
) -> FastAPI:
    """A FastAPI app whose lifespan starts and stops the service's Kafka broker and Mongo client.

    ``on_startup`` hooks run after MongoDB answers (create indexes there) and before consumers start.
    ``dependencies`` names what the service uses (and its readiness checks): a service that uses neither
    Kafka nor MongoDB (the gateway) starts and is ready without them.
    """
    uses_kafka, uses_mongo = "kafka" in dependencies, "mongodb" in dependencies
    settings = runtime.settings
    kafka_servers = settings.kafka.bootstrap_servers if isinstance(settings, CommonSettings) else ""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(runtime.name, runtime.settings.log_level)
        if uses_mongo:
            await runtime.mongo.aconnect()
        for hook in on_startup:
            await hook(runtime)
        if uses_kafka:
            await _start_broker(runtime.broker)
        log.info("service started", extra={"kafka": kafka_servers if uses_kafka else None})
        try:
            yield
        finally:
            for task in runtime.background:
                task.cancel()
            await asyncio.gather(*runtime.background, return_exceptions=True)
            for hook in on_shutdown:
                await hook(runtime)
            if uses_kafka:
                await runtime.broker.stop()
            await runtime.mongo.close()
            log.info("service stopped")

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.broker = runtime.broker
    app.state.token_public_key = runtime.settings.token_public_key
    app.include_router(_operations_router(runtime, uses_kafka=uses_kafka, uses_mongo=uses_mongo))
    _count_requests(app, runtime.registry)
    app.add_middleware(BodyLimits)
    for router in routers:
        declare_common_responses(router)
        app.include_router(router)
    return app


async def _start_broker(broker: KafkaBroker, attempts: int = 30) -> None:
    # Kafka may still be electing its controller when a service starts right after it.
    for attempt in range(1, attempts + 1):
        try:
            await broker.start()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("Kafka not reachable yet, retrying", extra={"error": str(exc), "attempt": attempt})
            await broker.stop()
            await asyncio.sleep(1.0)


def _operations_router(runtime: ServiceRuntime, *, uses_kafka: bool, uses_mongo: bool) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process answers; no I/O."""
        return {"status": "ok", "service": runtime.name}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        """Kafka and MongoDB (those the service uses) answer; 503 names the failing dependency."""
        probes: dict[str, Awaitable[bool]] = {}
        if uses_kafka:
            probes["kafka"] = _ping_kafka(runtime.broker)
        if uses_mongo:
            probes["mongodb"] = _ping_mongo(runtime)
        checks = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
        problems = {name: problem for name, check in runtime.readiness.items() if (problem := check())}
        failing = [name for name, ok in checks.items() if not ok] + list(problems)
        body: dict[str, Any] = {
            "status": "ok" if not failing else "unavailable",
            "service": runtime.name,
            "checks": {name: "ok" if ok else "failing" for name, ok in checks.items()}
            | {name: "failing" if name in problems else "ok" for name in runtime.readiness},
            "failing": failing,
        }
        if problems:
            body["problems"] = problems
        return JSONResponse(body, status_code=503 if failing else 200)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus text exposition, for the scraper holding the metrics token."""
        if not _may_read_metrics(request, runtime.settings):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _dependency(alias: Any) -> Any:
    return alias.__metadata__[0].dependency


AUTHENTICATED = {"dependency": _dependency(CurrentPrincipal), "description": "No valid bearer token."}
OPERATOR_ONLY = {"dependency": _dependency(CurrentOperator), "description": "The token is not an operator's."}


def _calls(dependant: Any) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _params(dependant: Any) -> tuple[bool, bool]:
    """Whether the route (with its dependencies) reads path parameters, and any other input."""
    path, other = bool(dependant.path_params), bool(dependant.query_params or dependant.body_params)
    for sub in dependant.dependencies:
        sub_path, sub_other = _params(sub)
        path, other = path or sub_path, other or sub_other
    return path, other


def declare_common_responses(router: APIRouter) -> None:
    """Declare the statuses every route of a kind may answer, for the OpenAPI document.

    401 where a bearer token is required, 403 where an operator's is, 413 where a body is read (size
    and depth limits, see ``shared.body_limits``), 404 where a path names a resource (unknown and
    another company's alike), and 422 with the services' error shape (a message or field errors)
    wherever input is read.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        path_params, other_params = _params(route.dependant)
        response_class = getattr(route.response_class, "value", route.response_class)
        # Pages answer these as HTML; only JSON routes declare the body's shape.
        page = isinstance(response_class, type) and issubclass(response_class, HTMLResponse)
        if path_params:
            description = "No such resource (or another company's)."
            route.responses.setdefault(404, {"description": description} if page else problem(description))
        if path_params or other_params:
            description = "The input is invalid."
            route.responses.setdefault(422, {"description": description} if page else problem(description))
        calls = _calls(route.dependant)
        if AUTHENTICATED["dependency"] in calls or OPERATOR_ONLY["dependency"] in calls:
            route.responses.setdefault(401, {"description": AUTHENTICATED["description"]})
        if OPERATOR_ONLY["dependency"] in calls:
            route.responses.setdefault(403, {"description": OPERATOR_ONLY["description"]})
        if (route.methods or set()) & {"POST", "PUT", "PATCH"}:
            route.responses.setdefault(413, {"description": "The body is larger than the limit."})


def _may_read_metrics(request: Request, settings: ServiceSettings) -> bool:
    """With a token configured, only ``Authorization: Bearer <token>``; without one, not in production."""
    token = settings.metrics_token
    if not token:
        return settings.app_env != "production"
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def _ping_kafka(broker: KafkaBroker) -> bool:
    try:
        return bool(await broker.ping(timeout=2.0))
    except Exception:
        return False


async def _ping_mongo(runtime: ServiceRuntime) -> bool:
    try:
        await asyncio.wait_for(runtime.db.command("ping"), timeout=2.0)
        return True
    except Exception:
        return False


def _count_requests(app: FastAPI, registry: CollectorRegistry) -> None:
    requests = Counter(
        "http_requests_total", "HTTP requests handled", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry
    )
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)


class RequestMetrics:
    """Counts and times each HTTP request by method, route and status.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs every request through a task
    and a memory stream of its own, a cost each request of every service would pay for two metrics.
    """

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application raises

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router records the matched route in the scope it was given.
            path = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], path, str(status)).inc()
            self.latency.labels(scope["method"], path).observe(time.perf_counter() - started)
