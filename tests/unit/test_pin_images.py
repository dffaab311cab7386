"""scripts/pin_images.py against a registry of its own (the registry API's token and manifest calls): every
public image of the deployment gets the digest the registry gives for its tag; images built here stay as
they are."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kho.settings import REPO

spec = importlib.util.spec_from_file_location("pin_images", REPO / "scripts" / "pin_images.py")
pin_images = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pin_images)


def fake_digest(path: str) -> str:
    return "sha256:" + hashlib.sha256(path.encode()).hexdigest()


class Registry(BaseHTTPRequestHandler):
    def do_GET(self):  # the token endpoint
        body = json.dumps({"token": "t0ken"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):  # a manifest
        ok = self.headers.get("Authorization") == "Bearer t0ken" and "image.index" in self.headers.get(
            "Accept", ""
        )
        self.send_response(200 if ok else 401)
        if ok:
            self.send_header("Docker-Content-Digest", fake_digest(self.path))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_every_public_image_is_pinned_to_the_digest_of_its_tag(tmp_path, registry, capsys):
    for name in pin_images.FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    before = {name: (tmp_path / name).read_text() for name in pin_images.FILES}
    assert pin_images.main(["--check", "--root", str(tmp_path)]) == 1
    assert "docker-compose.yml: postgres:18" in capsys.readouterr().out

    assert (
        pin_images.main(["--root", str(tmp_path), "--registry", registry, "--auth", f"{registry}/token"]) == 0
    )

    compose = (tmp_path / "docker-compose.yml").read_text()
    assert f"image: postgres:18@{fake_digest('/v2/library/postgres/manifests/18')}\n" in compose
    assert (
        f"image: ckan/ckan-solr:2.12-solr9@{fake_digest('/v2/ckan/ckan-solr/manifests/2.12-solr9')}\n"
        in compose
    )
    assert "image: ${KHO_AIRFLOW_IMAGE:-kho-airflow:3.3.2}" in compose  # built here, named by a variable
    airflow = (tmp_path / "deploy/airflow/Dockerfile").read_text()
    assert (
        f"FROM apache/airflow:3.3.2-python3.11@{fake_digest('/v2/apache/airflow/manifests/3.3.2-python3.11')}\n"
        in airflow
    )
    # nothing else changed
    for name, text in before.items():
        after = (tmp_path / name).read_text()
        assert Path(name) and len(after.splitlines()) == len(text.splitlines())
    assert pin_images.main(["--check", "--root", str(tmp_path)]) == 0
