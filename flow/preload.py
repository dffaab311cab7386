"""Imported once by each Celery worker at start (flow/workers.py): the libraries Kho's tasks
use, so that the tasks forked from the worker do not import them each time."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations  # noqa: E402, F401 - the quality checks and the gate
import great_expectations.expectations  # noqa: E402, F401
from cosmos.operators import local  # noqa: E402, F401 - the warehouse DAGs' dbt builds

import flow  # noqa: E402, F401 - the tasks' bodies (landing, validation, publishing)
import kho.landing.land  # noqa: E402, F401
import kho.validating.data_docs  # noqa: E402, F401
import kho.validating.quality  # noqa: E402, F401
import publishers.ckan  # noqa: E402, F401
