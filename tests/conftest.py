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

    values = up(echo=lambda _m: None)
    return settings(), values


@pytest.fixture(scope="session")
def warehouse(stack):
    s, _ = stack
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        yield conn


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
