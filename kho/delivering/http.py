"""Pull every page of an agency's JSON API and keep the result as one JSON Lines delivery.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kho.catalog import CatalogError, Dataset
from kho.delivering import resolve
from kho.errors import DeliveryError, Plain, Problem
from kho.settings import Settings, settings

BACKOFF_S = 1.0  # the first wait before trying again; doubled each time
MAX_BACKOFF_S = 60.0
MAX_PAGES = 100_000  # a server that never reaches its last page
MAX_PAGE_BYTES = 64 * 1024 * 1024
USER_AGENT = "kho-connector/0.1"
RETRY_STATUSES = {408, 429}  # besides every 5xx
SECRET_WORDS = ("key", "token", "secret", "password")  # query parameters never shown in messages


class _Retry(Exception):
    """A failure worth trying again, and what it was."""

    def __init__(self, what: str, wait: float | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait


def fetch(ds: Dataset, s: Settings | None = None, backoff_s: float | None = None) -> Path:
    """Fetch every record of the dataset's HTTP source into ``inbox/<dataset>/``; return the file."""
    s = s or settings()
    source = ds.source
    if not source.location:
        raise CatalogError(f"{ds.path or ds.id}: field 'source.location': an http source needs its URL")
    base = resolve(source.location, ds, s)
    inbox = s.inbox_dir / ds.id
    inbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = inbox / f"{ds.id}-{stamp}.jsonl"
    part = inbox / f".{target.name}.part"  # hidden: landing skips dot files
    try:
        with part.open("w", encoding="utf-8", newline="\n") as out:
            page, last = 1, 1
            while page <= last:
                url = _page_url(base, page, source.page_size) if source.pagination == "page" else base
                body = _get_json(ds, url, page, backoff_s)
                records = _records(ds, url, page, body)
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
                    out.write("\n")
                if source.pagination == "page":
                    last = _total_pages(ds, url, page, body)
                    if last > MAX_PAGES:
                        raise DeliveryError(
                            _problem(ds, url, page, f"at most {MAX_PAGES:,} pages", f"{last:,}")
                        )
                page += 1
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return target


def _page_url(base: str, page: int, size: int) -> str:
    parts = urlsplit(base)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("page", "page_size")
    ]
    query += [("page", str(page)), ("page_size", str(size))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _problem(ds: Dataset, url: str, page: int, expected: str, found: str) -> Problem:
    return Problem(ds.id, shown(url), None, None, f"page {page}: {expected}", Plain(found))


def _get_json(ds: Dataset, url: str, page: int, backoff_s: float | None) -> object:
    """One page as parsed JSON, trying again after failures that may pass."""
    source = ds.source
    wait = BACKOFF_S if backoff_s is None else backoff_s
    attempts = source.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            data = _get(ds, url, page, source.timeout_s)
        except _Retry as failure:
            if attempt == attempts:
                raise DeliveryError(
                    _problem(
                        ds,
                        url,
                        page,
                        "an answer (HTTP 200 with JSON)",
                        f"{failure.what}, {attempts} attempt{'s' if attempts > 1 else ''} in all",
                    )
                ) from None
            time.sleep(min(failure.wait if failure.wait is not None else wait, MAX_BACKOFF_S))
            wait *= 2
            continue
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = (
                f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            )
            raise DeliveryError(
                _problem(ds, url, page, "valid JSON", f"{len(data):,} bytes that are not JSON{where}: {exc}")
            ) from None
    raise AssertionError("unreachable")


def _get(ds: Dataset, url: str, page: int, timeout: float) -> bytes:
    """The body of a 200 answer; :class:`_Retry` for what may pass, DeliveryError for what will not."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - catalog URL
            data = response.read(MAX_PAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        what = f"HTTP {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code in RETRY_STATUSES:
            raise _Retry(what, _retry_after(exc.headers)) from None
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise DeliveryError(
            _problem(ds, url, page, "HTTP 200", what + (f": {detail}" if detail else ""))
        ) from None
    except TimeoutError:
        raise _Retry(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise _Retry(f"no answer within {timeout:g} s") from None
        raise _Retry(f"no connection ({reason})") from None
    except (ConnectionError, OSError) as exc:  # reset mid-answer
        raise _Retry(f"connection broken ({exc})") from None
    if len(data) > MAX_PAGE_BYTES:
        raise DeliveryError(
            _problem(ds, url, page, f"a page under {MAX_PAGE_BYTES >> 20} MB", "a larger one")
        )
    return data


def _retry_after(headers: Message | None) -> float | None:
    value = headers.get("Retry-After") if headers else None
    return float(value) if value and value.strip().isdigit() else None


def _records(ds: Dataset, url: str, page: int, body: object) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        found = (
            type(body).__name__ if not isinstance(body, dict) else f"an object with keys {sorted(body)[:8]}"
        )
        raise DeliveryError(_problem(ds, url, page, 'a JSON object {"data": [records ...], ...}', found))
    for i, record in enumerate(body["data"], start=1):
        if not isinstance(record, dict):
            raise DeliveryError(
                _problem(
                    ds, url, page, "records that are JSON objects", f"record {i}: {json.dumps(record)[:60]}"
                )
            )
    return body["data"]


def _total_pages(ds: Dataset, url: str, page: int, body: dict) -> int:
    total = body.get("total_pages")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise DeliveryError(_problem(ds, url, page, "'total_pages', a whole number", repr(total)))
    if body.get("page", page) != page:
        raise DeliveryError(
            _problem(ds, url, page, f"the page asked for ({page})", f"page {body.get('page')!r}")
        )
    return total


def shown(url: str) -> str:
    """The URL for messages and logs: no password, no API key or token in the query."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    query = [
        (k, "***" if any(w in k.lower() for w in SECRET_WORDS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
