"""Session fixtures for tests against a real CKAN (started by kho.ckan_service) and the warehouse.

Loaded by the test modules that need it with ``pytest_plugins = ["tests.integration.conftest_ckan"]``.
State and ports come from ``KHO_HOME`` / ``KHO_PORT_BASE``; when they are not set the tests use their
own (a directory under the system temp dir and port base 56300), never the developer's ``.kho``.
Services the fixture started are stopped at the end unless ``KHO_KEEP_SERVICES=1``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ckanapi import RemoteCKAN

from kho import ckan_service, services
from kho.settings import Settings, settings


@dataclass(frozen=True)
class CkanSite:
    url: str
    admin: RemoteCKAN  # the sysadmin kho_admin, with its API token
    anonymous: RemoteCKAN
    settings: Settings


@pytest.fixture(scope="session")
def kho_settings() -> Settings:
    os.environ.setdefault("KHO_HOME", str(Path(tempfile.gettempdir()) / f"kho-test-{os.getuid()}"))
    os.environ.setdefault("KHO_PORT_BASE", "56300")
    settings.cache_clear()
    return settings()


@pytest.fixture(scope="session")
def ckan_site(kho_settings: Settings) -> Iterator[CkanSite]:
    s = kho_settings
    was_running = {
        "postgres": _listening(s.pg_port),
        "redis": _listening(s.redis_port),
        "ckan": ckan_service.is_running(s),
    }
    url = ckan_service.start(s)
    token = ckan_service.api_token(s)
    agent = "kho-tests/0.1"
    yield CkanSite(
        url=url,
        admin=RemoteCKAN(url, apikey=token, user_agent=agent),
        anonymous=RemoteCKAN(url, user_agent=agent),
        settings=s,
    )
    if os.environ.get("KHO_KEEP_SERVICES") == "1":
        return
    if not was_running["ckan"]:
        ckan_service.stop(s)
    if not was_running["redis"]:
        services.stop_process(s, "redis")
    if not was_running["postgres"]:
        services.stop_postgres(s)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def unique() -> str:
    """A short random suffix, so names never collide with an earlier run's datasets."""
    return uuid.uuid4().hex[:8]
