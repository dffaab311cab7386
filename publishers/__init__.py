"""Publishers: the last step of a dataset's flow, from a quality-checked mart out to the public.

``publishers.ckan`` publishes a dataset to the CKAN portal and ``publishers.withdraw`` takes down what
the catalog no longer allows; ``publishers.table`` streams a mart out (CSV, DataStore rows),
``publishers.metadata`` says what the portal shows about it, ``publishers.portal`` talks to CKAN.
"""

from publishers.ckan import PublishResult, publish, publish_all, publish_dataset
from publishers.errors import PublishError, PublishRefused
from publishers.withdraw import withdraw_stale

__all__ = [
    "PublishError", "PublishRefused", "PublishResult", "publish", "publish_all", "publish_dataset", "withdraw_stale",
]  # fmt: skip
