"""docker-compose.yml runs every service with the settings its code reads (it cannot start here)."""

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from shared.settings import PLACEHOLDER_SECRETS
from support.processes import PACKAGES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
LOCAL_ADDRESSES = ("127.0.0.1", "localhost")


def env_fields(settings: type[BaseSettings]) -> list[tuple[set[str], Any]]:
    """For every field a settings class reads (nested included): its variable names and default."""
    prefix = settings.model_config.get("env_prefix", "")
    fields: list[tuple[set[str], Any]] = []
    for name, field in settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            fields.extend(env_fields(nested))
            continue
        alias = field.validation_alias
        if isinstance(alias, str):
            names = {alias.upper()}
        elif isinstance(alias, AliasChoices):
            names = {str(choice).upper() for choice in alias.choices}
        else:
            names = {f"{prefix}{name}".upper()}
        fields.append((names, field.default))
    return fields


def service_settings(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"{PACKAGES[service]}.settings")
    settings: type[BaseSettings] = module.Settings
    return settings


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_service_is_built_and_health_checked(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    args = dict(spec["build"]["args"])
    # Debian run-time packages are optional (the gateway's PDF rendering needs Pango and a font).
    args.pop("SYSTEM_PACKAGES", None)
    assert args == {"SERVICE": service, "PACKAGE": PACKAGES[service]}
    assert "/health/ready" in " ".join(spec["healthcheck"]["test"])
    if service == "gateway":  # no Kafka, no MongoDB: it waits for the services it calls
        assert not {"kafka", "mongo"} & set(spec["depends_on"])
        assert not {"KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"} & set(spec["environment"])
        assert set(spec["depends_on"]) == set(PACKAGES) - {"gateway"}
        return
    for dependency in ("kafka", "mongo"):
        assert spec["depends_on"][dependency]["condition"] == "service_healthy"
        assert "healthcheck" in COMPOSE["services"][dependency]


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_every_variable_set_is_read_by_the_code(service: str) -> None:
    readable = set().union(*(names for names, _ in env_fields(service_settings(service))))
    unknown = set(COMPOSE["services"][service]["environment"]) - readable
    assert not unknown, f"{service}: compose sets variables the code never reads: {sorted(unknown)}"


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_secrets_and_addresses_are_given_for_production(service: str) -> None:
    environment = COMPOSE["services"][service]["environment"]
    assert environment["APP_ENV"] == "production"
    missing = sorted(
        min(names)
        for names, default in env_fields(service_settings(service))
        if isinstance(default, str)
        and (default in PLACEHOLDER_SECRETS or any(host in default for host in LOCAL_ADDRESSES))
        and not names & set(environment)
    )
    assert not missing, f"{service}: production would run with development values for {missing}"


def test_ports_and_mail_ui() -> None:
    assert COMPOSE["services"]["gateway"]["ports"] == ["8000:8000"]
    assert "8025:8025" in COMPOSE["services"]["mail"]["ports"]
    assert "--replSet" in COMPOSE["services"]["mongo"]["command"]
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_syslog_collector_uses_the_development_config_and_feeds_kafka() -> None:
    spec = COMPOSE["services"]["syslog-collector"]
    assert spec["build"]["dockerfile"] == "deploy/rsyslog/Dockerfile"
    assert sorted(spec["ports"]) == ["5514:5514/tcp", "5514:5514/udp", "6514:6514/tcp"]
    assert spec["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert spec["environment"]["SYSLOG_KAFKA_BROKERS"] == "kafka:9092"
    dockerfile = (ROOT / "deploy" / "rsyslog" / "Dockerfile").read_text()
    assert "COPY deploy/rsyslog/collector.conf " in dockerfile
    assert "rsyslog-kafka" in dockerfile
