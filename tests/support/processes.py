"""Services started as real processes (uvicorn), the way `make run` starts them."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.servers import Servers

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

PACKAGES = {
    "signup": "signup",
    "identity": "identity",
    "device-registry": "device_registry",
    "alert-pipeline": "alert_pipeline",
    "notifier": "notifier",
    "support": "support_desk",
    "gateway": "gateway",
}
ENV_PREFIX = {name: name.upper().replace("-", "_") for name in PACKAGES}
# Seven processes starting at once on a small (or busy) machine can take a while to import.
READY_TIMEOUT = 180.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service running in its own process, with its log under test-artifacts/logs/."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = READY_TIMEOUT) -> "ServiceProcess":
        """Start uvicorn for this service and, by default, wait until it is ready."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [
            sys.executable, "-m", "uvicorn", f"{PACKAGES[self.name]}.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            "--no-server-header", "--no-proxy-headers",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /health/ready until it answers 200; fail with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM and wait, as an operator's restart would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process dies mid-work, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Stack:
    """A set of service processes sharing one isolated namespace of databases and consumer groups."""

    servers: Servers
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def base_env(self) -> dict[str, str]:
        """Environment common to every service of this stack, including each one's URL."""
        env = {**self.servers.env(), "APP_ENV": "test", "KAFKA_SESSION_TIMEOUT_MS": "6000"}
        for name in PACKAGES:
            env[f"{ENV_PREFIX[name]}_DATABASE"] = f"{name}-{self.run_id}"
        for name, service in self.services.items():
            env[f"{ENV_PREFIX[name]}_URL"] = service.url
        return env

    def add(self, name: str, **extra_env: str) -> ServiceProcess:
        """Declare a service (ports are chosen now so every service knows every URL)."""
        self.services[name] = ServiceProcess(
            name=name,
            port=free_port(),
            env=dict(extra_env),
            log_path=ARTIFACTS / "logs" / f"{self.run_id}-{name}.log",
        )
        return self.services[name]

    def start(self, *names: str, timeout: float = 180.0) -> None:
        """Start the named (or all declared) services and wait until every one is ready (six services
        starting at once on a busy two-core machine take well over a minute)."""
        chosen = [self.services[name] for name in names] if names else list(self.services.values())
        for service in chosen:
            service.env = {**self.base_env(), **service.env}
            service.start(wait=False)
        for service in chosen:
            service.wait_ready(timeout)

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


@contextmanager
def running_stack(servers: Servers, *names: str, **env: str) -> Iterator[Stack]:
    """Start the named services (all six by default) and stop them afterwards."""
    stack = Stack(servers)
    for name in names or tuple(PACKAGES):
        stack.add(name, **env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
