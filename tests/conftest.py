"""Shared fixtures. Tests run against the real services Kho starts itself (`make test` runs them
under ``.kho/test`` on their own ports); nothing here is mocked."""

from __future__ import annotations

import os

import psycopg
import pytest

from kho.settings import keep_private, settings


def pytest_configure(config):
    keep_private()  # as Kho's entry points do: what the tests make Kho write is private too


@pytest.fixture(scope="session")
def stack():
    """The running Kho stack (PostgreSQL, Redis, CKAN, Airflow DB, dbt manifest); started if needed."""
    if "KHO_HOME" not in os.environ:
        pytest.exit("run the suite with `make test` (it sets KHO_HOME and starts the test services)", 2)
    from kho.operations.stack import up

    values = up(echo=lambda _m: None, airflow_services=False)  # the e2e tests start Airflow themselves
    return settings(), values


class Warehouse:
    """The suite's connection to the warehouse (autocommit), connected again when it broke: a test kills
    PostgreSQL to see supervisord restart it (tests/integration/test_supervised.py)."""

    def __init__(self, url: str):
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)

    def _live(self) -> psycopg.Connection:
        if self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.url, autocommit=True)
        return self.conn

    def execute(self, *args, **kwargs):
        try:
            return self._live().execute(*args, **kwargs)
        except psycopg.OperationalError:
            if not self.conn.broken:
                raise
            return self._live().execute(*args, **kwargs)  # once, on a new connection

    def __getattr__(self, name):
        return getattr(self._live(), name)


@pytest.fixture(scope="session")
def warehouse(stack):
    s, _ = stack
    found = Warehouse(s.warehouse_url)
    yield found
    found.conn.close()


@pytest.fixture(scope="session")
def ckan(stack):
    from ckanapi import RemoteCKAN

    s, _ = stack
    with RemoteCKAN(s.ckan_url, apikey=s.ckan_api_token) as api:
        yield api


@pytest.fixture(scope="session")
def ckan_anonymous(stack):
    from ckanapi import RemoteCKAN

    s, _ = stack
    with RemoteCKAN(s.ckan_url) as api:
        yield api
