"""Pull every page of an agency's JSON API and keep the result as one JSON Lines delivery.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from kho.catalog import CatalogError, Dataset
from kho.delivering import resolve
from kho.errors import DeliveryError, Plain, Problem
from kho.settings import Settings, settings

BACKOFF_S = 1.0  # the first wait before trying again; doubled each time
MAX_BACKOFF_S = 60.0
MAX_PAGES = 100_000  # a server that never reaches its last page
MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "kho-connector/0.1"
RETRY_STATUSES = {408, 429}  # besides every 5xx
SECRET_WORDS = ("key", "token", "secret", "password")  # query parameters never shown in messages
READ_SIZE = 64 * 1024


class _Retry(Exception):
    """A failure worth trying again, and what it was."""

    def __init__(self, what: str, wait: float | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait


class _Budget:
    """What the whole fetch may still spend: time until ``source.deadline_s``, bytes up to ``source.max_bytes``."""

    def __init__(self, ds: Dataset):
        self.deadline_s = ds.source.deadline_s
        self.ends = time.monotonic() + ds.source.deadline_s
        self.max_bytes = ds.source.max_bytes
        self.used = 0  # bytes of the pages received

    def left(self) -> float:
        return self.ends - time.monotonic()


def fetch(ds: Dataset, s: Settings | None = None, backoff_s: float | None = None) -> Path:
    """Fetch every record of the dataset's HTTP source into ``inbox/<dataset>/``; return the file."""
    s = s or settings()
    source = ds.source
    if not source.location:
        raise CatalogError(f"{ds.path or ds.id}: field 'source.location': an http source needs its URL")
    base = resolve(source.location, ds, s)
    budget = _Budget(ds)
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
                body = _get_json(ds, url, page, backoff_s, budget)
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


def _late(ds: Dataset, url: str, page: int, budget: _Budget, detail: str = "") -> DeliveryError:
    return DeliveryError(
        _problem(
            ds,
            url,
            page,
            f"every page within {budget.deadline_s:g} s (source.deadline_s)",
            f"page {page} not complete by then" + (f" ({detail})" if detail else ""),
        )
    )


def _get_json(ds: Dataset, url: str, page: int, backoff_s: float | None, budget: _Budget) -> object:
    """One page as parsed JSON, trying again after failures that may pass, within the fetch's deadline."""
    source = ds.source
    wait = BACKOFF_S if backoff_s is None else backoff_s
    attempts = source.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            data = _get(ds, url, page, budget)
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
            pause = min(failure.wait if failure.wait is not None else wait, MAX_BACKOFF_S)
            if pause >= budget.left():
                raise _late(ds, url, page, budget, f"{failure.what}; no time left to try again") from None
            time.sleep(pause)
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


def _get(ds: Dataset, url: str, page: int, budget: _Budget) -> bytes:
    """The body of a 200 answer, following redirects within the origin; :class:`_Retry` for what may pass,
    DeliveryError for what will not.

    The attempt has ``source.timeout_s`` in all, from connecting to the last byte (not per socket read),
    and never more than the fetch's deadline leaves: a watchdog cuts the connection when it is up.
    """
    timeout = ds.source.timeout_s
    by_deadline = budget.left() <= timeout  # the deadline, not the timeout, ends this attempt
    ends = time.monotonic() + min(timeout, budget.left())
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        conn = _connection(ds, url, page, parts, max(ends - time.monotonic(), 0.001))
        cut = threading.Event()
        watchdog = threading.Timer(max(ends - time.monotonic(), 0), _cut, [conn, cut])
        watchdog.daemon = True
        watchdog.start()
        answered = False
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", target, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
            response = conn.getresponse()
            answered = True
            if response.status in REDIRECTS:
                current = _redirect(ds, url, page, current, response)
                continue
            if response.status != 200:
                what = f"HTTP {response.status} {response.reason}"
                if response.status >= 500 or response.status in RETRY_STATUSES:
                    raise _Retry(what, _retry_after(response.getheader("Retry-After")))
                detail = response.read(300).decode("utf-8", "replace").strip()
                raise DeliveryError(
                    _problem(ds, url, page, "HTTP 200", what + (f": {detail}" if detail else ""))
                )
            return _read_body(ds, url, page, response, budget, ends)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if cut.is_set() or isinstance(exc, TimeoutError) or time.monotonic() >= ends:
                if by_deadline:
                    raise _late(ds, url, page, budget) from None
                if answered:
                    raise _Retry(f"answer not complete within {timeout:g} s") from None
                raise _Retry(f"no answer within {timeout:g} s") from None
            if isinstance(exc, ConnectionRefusedError | socket.gaierror):
                raise _Retry(f"no connection ({exc})") from None
            raise _Retry(f"connection broken ({exc or type(exc).__name__})") from None
        finally:
            watchdog.cancel()
            conn.close()
    raise DeliveryError(_problem(ds, url, page, f"at most {MAX_REDIRECTS} redirects", "more"))


def _connection(
    ds: Dataset, url: str, page: int, parts: SplitResult, timeout: float
) -> http.client.HTTPConnection:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(_problem(ds, url, page, "an http or https URL", shown(urlunsplit(parts))))
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _cut(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End a connection whose time is up: a read blocked on it returns at once."""
    cut.set()
    if conn.sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)


def origin(parts: SplitResult) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port spelt out."""
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _redirect(ds: Dataset, url: str, page: int, current: str, response: http.client.HTTPResponse) -> str:
    """Where a redirect leads, if it may be followed: the same origin (scheme, host, port), or a host the
    catalog's ``source.allow_redirect_hosts`` names (never from https down to http)."""
    location = response.getheader("Location")
    if not location:
        raise DeliveryError(
            _problem(ds, url, page, "a redirect with a Location", f"HTTP {response.status} without one")
        )
    following = urljoin(current, location.strip())
    here, there = origin(urlsplit(current)), origin(urlsplit(following))
    if here == there:
        return following
    allowed = {h.strip().lower() for h in ds.source.allow_redirect_hosts}
    if (
        there[0] in ("http", "https")
        and not (here[0] == "https" and there[0] == "http")
        and (there[1] in allowed or f"{there[1]}:{there[2]}" in allowed)
    ):
        return following
    raise DeliveryError(
        _problem(
            ds,
            url,
            page,
            f"a redirect within {here[0]}://{here[1]}:{here[2]} or to a host in source.allow_redirect_hosts",
            f"HTTP {response.status} to {shown(following)}",
        )
    )


def _read_body(
    ds: Dataset, url: str, page: int, response: http.client.HTTPResponse, budget: _Budget, ends: float
) -> bytes:
    """The answer's body, refused as soon as the fetch would pass ``source.max_bytes``."""
    left = budget.max_bytes - budget.used
    expected = f"at most {budget.max_bytes:,} bytes for the whole fetch (source.max_bytes)"
    length = (response.getheader("Content-Length") or "").strip()
    if length.isdigit() and int(length) > left:
        raise DeliveryError(
            _problem(ds, url, page, expected, f"an answer of {int(length):,} bytes after {budget.used:,}")
        )
    chunks, got = [], 0
    while chunk := response.read1(READ_SIZE):
        got += len(chunk)
        if got > left:
            raise DeliveryError(_problem(ds, url, page, expected, f"more than {budget.max_bytes:,}"))
        chunks.append(chunk)
        if time.monotonic() >= ends:
            raise TimeoutError
    if time.monotonic() >= ends:  # the watchdog ended the connection: not the end of the answer
        raise TimeoutError
    if length.isdigit() and got < int(length):
        raise http.client.IncompleteRead(b"", int(length) - got)
    budget.used += got
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
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
