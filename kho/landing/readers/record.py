"""What a reader yields: one record per source row, with the values that did not fit their columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Issue:
    """A value that does not fit its column."""

    column: str
    expected: str
    found: str


@dataclass(slots=True)
class Record:
    source_row: int
    # The fields as delivered, or a function making them: most rows land and never need them.
    delivered: dict[str, str] | Callable[[], dict[str, str]]
    rows: list[dict[str, object]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def raw(self) -> dict[str, str]:
        if callable(self.delivered):
            self.delivered = self.delivered()
        return self.delivered
