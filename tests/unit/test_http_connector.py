"""The HTTP connector against the agency API stand-in (demo/agency_api.py), run in this process on a free
port: pagination, retries, timeouts, refusals, and the same content giving the same bytes."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from demo import agency_api
from demo.agency_api import serving
from kho import delivering as connectors
from kho.catalog import CatalogError, catalog
from kho.delivering import http
from kho.errors import DeliveryError
from kho.operations.services import write_services_env
from kho.settings import REPO, Settings

SAMPLE = REPO / "samples" / "tourist_sites" / "api" / "tourist-sites.json"


@pytest.fixture(scope="module")
def api():
    with serving() as url:
        yield url


@pytest.fixture
def s(tmp_path) -> Settings:
    return Settings(repo=REPO, home=tmp_path, port_base=59900, external_postgres=None)


def dataset(location: str, **source):
    ds = catalog().dataset("tourist_sites")
    return ds.model_copy(update={"source": ds.source.model_copy(update={"location": location, **source})})


def fresh(url: str, faults: str = "") -> str:
    """The sites URL with faults, counted afresh (the API counts failures per URL)."""
    return f"{url}/v1/tourist-sites?run={uuid.uuid4().hex}" + (f"&{faults}" if faults else "")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def inbox_files(s: Settings) -> list[str]:
    folder = s.inbox_dir / "tourist_sites"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_every_page_lands_in_one_file_in_the_api_order(api, s):
    path = http.fetch(dataset(f"{api}/v1/tourist-sites", page_size=7), s, backoff_s=0)
    assert path.parent == s.inbox_dir / "tourist_sites" and path.suffix == ".jsonl"
    expected = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert len(expected) == 42  # six pages of 7
    assert lines(path) == expected
    assert inbox_files(s) == [path.name]  # no part file left behind


def test_one_record_per_line_keys_sorted_text_unescaped(api, s):
    path = http.fetch(dataset(f"{api}/v1/tourist-sites"), s, backoff_s=0)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith('{"address":"Thôn Tân Lập","category":"Di tích lịch sử","commune":"Xã Tân Trào"')
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_same_content_same_bytes(api, s):
    one = http.fetch(dataset(f"{api}/v1/tourist-sites", page_size=20), s, backoff_s=0)
    time.sleep(1.1)  # a new file name (its time stamp), the same content
    two = http.fetch(dataset(f"{api}/v1/tourist-sites?page_size=999", page_size=100), s, backoff_s=0)
    assert one != two
    assert hashlib.sha256(one.read_bytes()).digest() == hashlib.sha256(two.read_bytes()).digest()


def test_server_errors_are_tried_again(api, s):
    path = http.fetch(dataset(fresh(api, "fail=2"), retries=2), s, backoff_s=0)
    assert len(lines(path)) == 42


def test_server_errors_beyond_the_retries_are_refused_naming_url_and_page(api, s):
    url = fresh(api, "fail=3")
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(url, retries=2), s, backoff_s=0)
    message = str(err.value)
    assert message.startswith(f"tourist_sites: {url}&page=1&page_size=20: expected page 1: an answer")
    assert "HTTP 500 Internal Server Error, 3 attempts in all" in message
    assert inbox_files(s) == []


def test_backoff_doubles(api, s, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http.time, "sleep", waits.append)
    http.fetch(dataset(fresh(api, "fail=3"), retries=3), s, backoff_s=0.5)
    assert waits == [0.5, 1.0, 2.0]


def test_a_slow_server_is_tried_again_then_refused(api, s):
    url = fresh(api, "delay=1")
    started = time.monotonic()
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(url, timeout_s=0.2, retries=2), s, backoff_s=0)
    assert time.monotonic() - started < 3
    assert "no answer within 0.2 s, 3 attempts in all" in str(err.value)
    assert "page 1" in str(err.value)


def test_not_found_is_refused_at_once(api, s, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http.time, "sleep", waits.append)
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(f"{api}/v1/no-such-register"), s)
    assert str(err.value) == (
        f"tourist_sites: {api}/v1/no-such-register?page=1&page_size=20: expected page 1: HTTP 200, "
        'found HTTP 404 Not Found: {"error": "no resource at /v1/no-such-register"}'
    )
    assert waits == []  # a 4xx is not tried again
    assert inbox_files(s) == []


def test_malformed_json_is_refused_naming_the_page(api, s):
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(fresh(api, "malformed=2")), s, backoff_s=0)
    message = str(err.value)
    assert "page=2&page_size=20: expected page 2: valid JSON, found" in message
    assert "not JSON" in message
    assert inbox_files(s) == []  # pages 1 was fetched, but nothing is delivered


def test_an_answer_that_is_not_a_page_is_refused():
    ds = dataset("http://x/v1/sites")
    with pytest.raises(DeliveryError, match=r"expected page 3: a JSON object \{\"data\": \[records"):
        http._records(ds, "http://x/v1/sites?page=3", 3, {"items": []})
    with pytest.raises(
        DeliveryError, match="expected page 1: records that are JSON objects, found record 2: 7"
    ):
        http._records(ds, "http://x/v1/sites", 1, {"data": [{}, 7]})
    with pytest.raises(DeliveryError, match="expected page 2: the page asked for"):
        http._total_pages(ds, "http://x/v1/sites?page=2", 2, {"data": [], "page": 1, "total_pages": 3})


def test_placeholder_from_the_environment_then_services_env(monkeypatch, s):
    """A province sets the variable; the local stack writes it into services.env; the environment wins."""
    ds = dataset("${KHO_AGENCY_API_URL}/v1/tourist-sites")
    monkeypatch.delenv("KHO_AGENCY_API_URL", raising=False)
    with pytest.raises(CatalogError, match=r"no value for \$\{KHO_AGENCY_API_URL\}"):
        connectors.resolve(ds.source.location, ds, s)  # no default: the demo's address is not product code
    write_services_env(s, {"KHO_AGENCY_API_URL": "http://127.0.0.1:59966"})
    assert connectors.resolve(ds.source.location, ds, s) == "http://127.0.0.1:59966/v1/tourist-sites"
    monkeypatch.setenv("KHO_AGENCY_API_URL", "https://api.svhttdl.example.gov.vn")
    assert (
        connectors.resolve(ds.source.location, ds, s) == "https://api.svhttdl.example.gov.vn/v1/tourist-sites"
    )
    with pytest.raises(CatalogError, match=r"no value for \$\{KHO_NO_SUCH_URL\}"):
        connectors.resolve("${KHO_NO_SUCH_URL}/x", ds, s)


def test_secrets_are_not_shown_in_messages():
    assert http.shown("https://u:pw@api.example.vn:8443/v1/x?api_key=abc&page=2") == (
        "https://u:***@api.example.vn:8443/v1/x?api_key=***&page=2"
    )


def test_dispatch_by_source_kind(api, s):
    assert connectors.fetch(catalog().dataset("intangible_heritage"), s) is None  # inbox: nothing to fetch
    path = connectors.fetch(dataset(f"{api}/v1/tourist-sites"), s)
    assert path is not None and len(lines(path)) == 42


def test_the_api_runs_as_a_background_process(tmp_path):
    """What `kho up` does: start it (once), find it answering, stop exactly it."""
    import socket

    with socket.socket() as probe:  # a free port, as port base + 66
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = Settings(repo=REPO, home=tmp_path, port_base=port - 66, external_postgres=None)
    url = agency_api.start(s)
    try:
        assert url == f"http://127.0.0.1:{port}"
        assert agency_api.start(s) == url  # already running: nothing started
        with urllib.request.urlopen(f"{url}/v1/tourist-sites?page=3&page_size=20") as response:
            page = json.load(response)
        assert (page["page"], page["total_pages"], len(page["data"])) == (3, 3, 2)
    finally:
        assert agency_api.stop(s)
    assert not agency_api.stop(s)


# --- redirects, deadlines and sizes, against a small server of the test's own ---------------------------

PAGE = json.dumps({"data": [{"site_id": "S1", "name": "Tân Trào"}]}).encode()


class _Odd(BaseHTTPRequestHandler):
    """``/page``: a one-record page; ``/moved``: 302 to ``/page``; ``/away?to=URL``: 302 to URL;
    ``/drip``: a page announced whole, sent a byte every 0.2 s; ``/big``: 50 kB without a length."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        if parts.path == "/page":
            return self._send(200, PAGE)
        if parts.path in ("/moved", "/away"):
            target = dict(parse_qsl(parts.query)).get("to", "/page")
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if parts.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            for byte in PAGE[:40]:  # 8 s of it, unless the client gives up
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
            return None
        if parts.path == "/big":
            self.send_response(200)
            self.send_header("Connection", "close")  # the body ends when the connection does
            self.end_headers()
            self.wfile.write(b'{"data": [' + b'{"n": 1},' * 5_000 + b'{"n": 1}]}')
            self.close_connection = True
            return None
        return self._send(404, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        pass


class _OddServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up on the drip


@pytest.fixture(scope="module")
def odd():
    server = _OddServer(("127.0.0.1", 0), _Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_within_the_origin_is_followed(odd, s):
    path = http.fetch(dataset(f"{odd}/moved", pagination="none"), s, backoff_s=0)
    assert lines(path) == [{"name": "Tân Trào", "site_id": "S1"}]


def test_a_redirect_to_another_origin_is_refused(odd, api, s):
    elsewhere = f"{api}/v1/tourist-sites"  # another local service: its answer must not be delivered
    url = f"{odd}/away?to={elsewhere}"
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(url, pagination="none", retries=0), s)
    port = odd.rsplit(":", 1)[1]
    assert str(err.value) == (
        f"tourist_sites: {http.shown(url)}: expected page 1: a redirect within http://127.0.0.1:{port} or to a"
        f" host in source.allow_redirect_hosts, found HTTP 302 to {elsewhere}"
    )
    assert inbox_files(s) == []


def test_a_redirect_to_a_host_the_catalog_allows_is_followed(odd, api, s):
    url = f"{odd}/away?to={api}/v1/tourist-sites"
    allowed = [api.removeprefix("http://")]  # host:port
    path = http.fetch(dataset(url, pagination="none", allow_redirect_hosts=allowed), s, backoff_s=0)
    assert len(lines(path)) == 20  # the API's first page


def test_a_slow_drip_is_cut_at_the_request_timeout_not_per_read(odd, s):
    started = time.monotonic()
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(f"{odd}/drip", pagination="none", timeout_s=1, retries=0), s)
    assert time.monotonic() - started < 6  # each byte came within 1 s; the whole answer did not
    assert str(err.value).endswith("found answer not complete within 1 s, 1 attempt in all")
    assert inbox_files(s) == []


def test_the_whole_fetch_gives_up_at_its_deadline(odd, s):
    started = time.monotonic()
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(f"{odd}/drip", pagination="none", deadline_s=1, retries=3), s, backoff_s=0)
    assert time.monotonic() - started < 6
    assert str(err.value) == (
        f"tourist_sites: {odd}/drip: expected page 1: every page within 1 s (source.deadline_s),"
        " found page 1 not complete by then"
    )
    assert inbox_files(s) == []


def test_a_fetch_over_max_bytes_is_refused_while_read(odd, api, s):
    with pytest.raises(DeliveryError) as err:
        http.fetch(dataset(f"{odd}/big", pagination="none", max_bytes=10_000), s)
    assert str(err.value) == (
        f"tourist_sites: {odd}/big: expected page 1: at most 10,000 bytes for the whole fetch"
        " (source.max_bytes), found more than 10,000"
    )
    # Counted over every page: the API's six pages of 7 sites are some 12 kB in all.
    with pytest.raises(DeliveryError, match=r"expected page \d: at most 8,000 bytes for the whole fetch"):
        http.fetch(dataset(f"{api}/v1/tourist-sites", page_size=7, max_bytes=8_000), s)
    assert inbox_files(s) == []
