"""The CKAN action API as the publisher uses it: reads and counted writes, retried while CKAN is away.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from ckanapi import CKANAPIError, NotFound, RemoteCKAN, ValidationError

from publishers.errors import PublishError

REQUEST_TIMEOUT = 300  # seconds; an upload of a large CSV takes a while


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a call is tried again."""

    attempts: int = 6  # in all, the first included
    backoff_s: float = 1.0  # the first wait; each next wait doubles
    max_wait_s: float = 30.0

    @classmethod
    def from_env(cls) -> Retry:
        return cls(
            attempts=max(1, int(os.environ.get("KHO_PUBLISH_RETRIES") or cls.attempts)),
            backoff_s=float(os.environ.get("KHO_PUBLISH_BACKOFF_S") or cls.backoff_s),
        )

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
        return min(self.max_wait_s, self.backoff_s * 2 ** (attempt - 1))


class ServerUnavailable(Exception):
    """CKAN answered with a status that says 'try again later' (5xx, 429)."""

    def __init__(self, status: int, reason: str, url: str):
        super().__init__(f"HTTP {status} {reason} from {url}")
        self.status = status


TRANSIENT = (ServerUnavailable, requests.ConnectionError, requests.Timeout)


def _raise_when_unavailable(response: requests.Response, *_: Any, **__: Any) -> None:
    if response.status_code >= 500 or response.status_code == 429:
        raise ServerUnavailable(response.status_code, response.reason or "", response.url)


def client(url: str, token: str | None) -> RemoteCKAN:
    """A ckanapi client whose session reports 5xx/429 answers as :class:`ServerUnavailable`."""
    session = requests.Session()
    session.hooks["response"].append(_raise_when_unavailable)
    return RemoteCKAN(url, apikey=token, user_agent="kho-publisher/0.2", session=session)


class Portal:
    """ckanapi calls for one dataset, split into reads and writes so that writes can be counted."""

    def __init__(self, ckan: RemoteCKAN, dataset_id: str, retry: Retry | None = None):
        self.ckan = ckan
        self.dataset_id = dataset_id
        self.retry = retry or Retry.from_env()
        self.actions: list[str] = []  # the writes made, in order
        if ckan.session is None:
            ckan.session = requests.Session()
        if _raise_when_unavailable not in ckan.session.hooks["response"]:
            ckan.session.hooks["response"].append(_raise_when_unavailable)

    @property
    def writes(self) -> int:
        return len(self.actions)

    def read(self, action: str, **data: Any) -> Any:
        return self._call(action, data)

    def kho_packages(self, page: int = 500) -> list[dict[str, Any]]:
        """Every dataset the publisher made (it carries ``kho_dataset_id``), public or private, as the
        sysadmin's package_search returns them: full dataset dicts with their resources."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.read(
                "package_search",
                fq="extras_kho_dataset_id:*",
                include_private=True,
                rows=page,
                start=len(found),
                sort="name asc",
            )
            found += answer["results"]
            if len(found) >= answer["count"] or not answer["results"]:
                return found

    def write(
        self,
        action: str,
        files: dict[str, tuple[str, Any]] | None = None,
        recover: Callable[[], Any] | None = None,
        **data: Any,
    ) -> Any:
        """A call that changes CKAN. ``recover`` (for creates) finds the object if a failed attempt made it."""
        self.actions.append(action)
        return self._call(action, data, files, recover)

    def _call(
        self,
        action: str,
        data: dict[str, Any],
        files: dict[str, tuple[str, Any]] | None = None,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        started = time.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1 and recover is not None:
                found = recover()
                if found is not None:
                    return found
            for _, fileobj in (files or {}).values():
                fileobj.seek(0)
            try:
                return self.ckan.call_action(
                    action, data, files=files, requests_kwargs={"timeout": REQUEST_TIMEOUT}
                )
            except NotFound:
                raise
            except TRANSIENT as exc:
                if attempt == self.retry.attempts:
                    raise PublishError(
                        f"{self.dataset_id}: CKAN did not complete {action} after {attempt} attempts "
                        f"over {time.monotonic() - started:.0f} s; last answer: {_describe(exc)}. "
                        f"Nothing is lost: the next publish continues from where this one stopped."
                    ) from exc
                time.sleep(self.retry.wait(attempt))
            except CKANAPIError as exc:
                # a create refused because its name is taken: a killed or concurrent run's create of
                # the same object finished after this run looked for it
                found = recover() if recover is not None and isinstance(exc, ValidationError) else None
                if found is not None:
                    return found
                raise PublishError(f"{self.dataset_id}: CKAN refused {action}: {exc}") from exc
        raise AssertionError("unreachable")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ServerUnavailable):
        return str(exc)
    if isinstance(exc, requests.Timeout):
        return f"no answer within {REQUEST_TIMEOUT} s ({type(exc).__name__})"
    return f"could not connect ({type(exc).__name__}: {str(exc)[:200]})"
