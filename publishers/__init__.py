"""Publishers: the last step of a dataset's flow, from a quality-checked mart out to the public.

``publishers.ckan`` publishes to the CKAN portal; ``publishers.table`` reads a mart and renders it.
"""

from publishers.ckan import PublishError, PublishRefused, PublishResult, publish, publish_dataset

__all__ = ["PublishError", "PublishRefused", "PublishResult", "publish", "publish_dataset"]
