"""Fixtures of the unit tests (no services)."""

from __future__ import annotations

import pytest

from kho.conforming.dbt import parse_manifest


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> dict:
    """The dbt project's manifest, parsed once for the session (``dbt parse``, no database)."""
    return parse_manifest(tmp_path_factory.mktemp("dbt-target"))
