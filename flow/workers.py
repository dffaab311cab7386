"""The Celery workers' configuration (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``): Airflow's defaults, plus
the modules a worker imports once when it starts.

A task runs in a process forked from its worker, so what the worker imported the task has already: Great
Expectations alone takes about 5 s to import on a 2-core machine, paid before every validation otherwise.
Only modules are loaded, no data (the catalog is read by each task, so a dataset added later is seen).
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOADED = [
    "flow.preload",
]

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED}
