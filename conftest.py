"""Fixtures shared by the cross-service tests."""

import pytest

from support.servers import Servers, servers_from_env


@pytest.fixture(scope="session")
def servers() -> Servers:
    """The real Kafka, MongoDB and SMTP servers started by scripts/ (see `make test`)."""
    return servers_from_env()
