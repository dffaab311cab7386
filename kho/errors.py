"""The few exceptions Kho raises, each carrying enough context to act on without a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class KhoError(Exception):
    """Base class: an expected failure with a one-line explanation for the user."""


@dataclass
class Problem:
    """Where a delivery went wrong and how: the parts of every user-facing error message."""

    dataset: str
    file: str
    line: int | None = None
    column: str | None = None
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        where = [f"{self.dataset}: {self.file}"]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: expected {self.expected}, found {shorten(self.found)}"


class Plain(str):
    """A description of what was found (``"an empty file"``), shown unquoted, unlike a found value."""


def shorten(value: object, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) and not isinstance(value, Plain) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DeliveryError(KhoError):
    """A delivery (file or API response) was refused as a whole; nothing from it landed."""

    def __init__(self, problem: Problem | str):
        self.problem = problem if isinstance(problem, Problem) else None
        super().__init__(str(problem))


class ArchiveError(KhoError):
    """A delivery could not be archived (the archive's disk full, say): nothing of it landed, and the file
    stays where it was delivered, to be landed once the archive has room."""


class QualityGateError(KhoError):
    """A critical expectation failed, so the dataset must not be published."""
