"""The publisher's two outcomes besides success."""

from __future__ import annotations

from kho.errors import KhoError


class PublishRefused(KhoError):
    """The dataset must not be published: it is not open, or it would publish personal data."""


class PublishError(KhoError):
    """Publishing was attempted and failed (missing mart, CKAN unreachable or refusing a call)."""
