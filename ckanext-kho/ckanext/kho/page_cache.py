"""A small page cache for anonymous visitors, shared by CKAN's gunicorn processes through its Redis.

Why: an anonymous page (the home page, a search, a dataset, a resource) costs CKAN tens of actions and a
template render, the same for every visitor; the public reads, nobody writes through the web. A cached
page is answered from Redis in about a millisecond, so 20 people at once stay well within a 2-core
machine. What is never cached: anything but a ``GET``/``HEAD`` of an HTML page of at most 1 MB that
answered 200, a request with an ``Authorization`` header or a logged-in session (or one carrying flash
messages), the API, user and admin pages, and downloads. A cached page is served without the
``Set-Cookie`` it was rendered with (a visitor never receives another's session); the portal's forms an
anonymous visitor uses (search, language) are ``GET`` forms or plain links.

Freshness: every dataset, resource or group change bumps a generation number in Redis (the plugin's
``after_*`` hooks, whichever process handles the write), so the next visit renders anew; pages also expire
after ``ckanext.kho.page_cache_seconds`` (0 turns the cache off).
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any

log = logging.getLogger(__name__)

GENERATION_KEY = "kho:page-cache:generation"
PREFIX = "kho:page-cache:"
MAX_BYTES = 1_000_000
# Paths never cached (after the optional /<locale> prefix)
NEVER = ("/api/", "/user", "/dashboard", "/ckan-admin", "/util/", "/datastore/", "/webassets/", "/_")
HIT_HEADER = ("X-Kho-Page-Cache", "hit")


def _session_is_anonymous(cookie_header: str, cookie_name: str) -> bool:
    """True when the session cookie (if any) holds no logged-in user and no flash message.

    Flask's session cookie is signed, not encrypted: its payload is readable without the key. A forged
    cookie can at worst make its sender receive the anonymous page, which anyone may read.
    """
    if not cookie_header:
        return True
    try:
        morsel = SimpleCookie(cookie_header).get(cookie_name)
    except CookieError:
        return False
    if morsel is None:
        return True
    value = morsel.value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        data = json.loads(zlib.decompress(raw) if compressed else raw)
    except (ValueError, zlib.error):
        return False
    return isinstance(data, dict) and not ({"_user_id", "_flashes"} & set(data))


class PageCache:
    """WSGI middleware in front of CKAN's Flask app (kho_portal's ``IMiddleware``)."""

    def __init__(self, app: Callable, redis: Any, seconds: int, cookie_name: str = "ckan", locales=()):
        self.app = app
        self.redis = redis
        self.seconds = seconds
        self.cookie_name = cookie_name
        self.locales = tuple(f"/{locale}" for locale in locales)

    def __getattr__(self, name: str) -> Any:  # CKAN reads attributes of the app it wrapped
        return getattr(self.app, name)

    def cacheable(self, environ: dict[str, Any]) -> bool:
        if self.seconds <= 0 or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return False
        if environ.get("HTTP_AUTHORIZATION") or environ.get("HTTP_X_CKAN_API_KEY"):
            return False
        path = environ.get("PATH_INFO") or "/"
        for prefix in self.locales:
            if path == prefix or path.startswith(prefix + "/"):
                path = path[len(prefix) :] or "/"
                break
        if path.startswith(NEVER) or "/download" in path:
            return False
        return _session_is_anonymous(environ.get("HTTP_COOKIE", ""), self.cookie_name)

    def key(self, environ: dict[str, Any], generation: bytes | None) -> str:
        query = environ.get("QUERY_STRING", "")
        return "{}{}:{}:{}{}".format(
            PREFIX,
            (generation or b"0").decode(),
            environ.get("HTTP_HOST", ""),
            environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "/"),
            "?" + query if query else "",
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not self.cacheable(environ):
            return self.app(environ, start_response)
        try:
            key = self.key(environ, self.redis.get(GENERATION_KEY))
            hit = self.redis.get(key)
        except Exception:  # noqa: BLE001 - Redis away: serve uncached rather than fail
            log.warning("page cache: Redis unavailable", exc_info=True)
            return self.app(environ, start_response)
        if hit is not None:
            stored = json.loads(hit)
            body = base64.b64decode(stored["body"])
            start_response(stored["status"], [*map(tuple, stored["headers"]), HIT_HEADER])
            return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        self.store(environ, key, answer, body)
        return [body]

    def store(self, environ: dict[str, Any], key: str, answer: dict[str, Any], body: bytes) -> None:
        headers = answer.get("headers") or []
        types = [v for k, v in headers if k.lower() == "content-type"]
        if (
            environ["REQUEST_METHOD"] != "GET"
            or not str(answer.get("status", "")).startswith("200")
            or not types
            or not types[0].startswith("text/html")
            or len(body) > MAX_BYTES
        ):
            return
        kept = [(k, v) for k, v in headers if k.lower() != "set-cookie"]
        stored = {"status": answer["status"], "headers": kept, "body": base64.b64encode(body).decode()}
        try:
            self.redis.set(key, json.dumps(stored), ex=self.seconds)
        except Exception:  # noqa: BLE001
            log.warning("page cache: could not store %s", key, exc_info=True)


def invalidate(redis: Any) -> None:
    """Every cached page is stale from now on (a dataset, resource or group changed)."""
    try:
        redis.incr(GENERATION_KEY)
    except Exception:  # noqa: BLE001
        log.warning("page cache: could not invalidate", exc_info=True)
