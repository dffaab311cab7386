"""One Settings, from the environment: every external address can be set by a province's deployment; the
local stack's services.env comes second; secrets can be passed as files; nothing asks a process manager."""

from __future__ import annotations

import stat

import pytest

from kho.operations.services import write_services_env
from kho.settings import REPO, SettingError, Settings, write_private

VARIABLES = (
    "KHO_WAREHOUSE_URL",
    "KHO_CKAN_URL",
    "KHO_CKAN_API_TOKEN",
    "KHO_CKAN_API_TOKEN_FILE",
    "KHO_CKAN_DATASTORE_WRITE_URL",
    "KHO_CKAN_DATASTORE_WRITE_URL_FILE",
    "KHO_REDIS_URL",
    "KHO_AIRFLOW_API_URL",
)


@pytest.fixture
def s(tmp_path, monkeypatch) -> Settings:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Settings(repo=REPO, home=tmp_path, port_base=61000, external_postgres=None)


def test_without_anything_set_the_local_stack_ports(s):
    assert s.warehouse_url == "postgresql://postgres@127.0.0.1:61032/kho"
    assert s.ckan_url == "http://127.0.0.1:61050"
    assert s.redis_url == "redis://127.0.0.1:61079/0"
    assert s.airflow_api_url == "http://127.0.0.1:61080"
    assert s.ckan_datastore_write_url is None
    with pytest.raises(SettingError, match="KHO_CKAN_API_TOKEN"):
        s.ckan_api_token  # noqa: B018


def test_every_address_from_the_environment(s, monkeypatch):
    monkeypatch.setenv("KHO_WAREHOUSE_URL", "postgresql://kho:pw@db.tinh.gov.vn/kho")
    monkeypatch.setenv("KHO_CKAN_URL", "https://opendata.tinh.gov.vn/")
    monkeypatch.setenv("KHO_CKAN_API_TOKEN", "tok-env")
    monkeypatch.setenv("KHO_CKAN_DATASTORE_WRITE_URL", "postgresql://ckan:pw@db/ckan_datastore")
    monkeypatch.setenv("KHO_REDIS_URL", "redis://redis.tinh.gov.vn:6379/1")
    monkeypatch.setenv("KHO_AIRFLOW_API_URL", "http://airflow:8080")
    assert s.warehouse_url == "postgresql://kho:pw@db.tinh.gov.vn/kho"
    assert s.ckan_url == "https://opendata.tinh.gov.vn"
    assert s.ckan_api_token == "tok-env"
    assert s.ckan_datastore_write_url == "postgresql://ckan:pw@db/ckan_datastore"
    assert s.redis_url == "redis://redis.tinh.gov.vn:6379/1"
    assert s.airflow_api_url == "http://airflow:8080"


def test_services_env_second_and_secrets_from_files(s, monkeypatch, tmp_path):
    token = tmp_path / "token"
    token.write_text("tok-file\n")
    write_services_env(s, {"KHO_CKAN_URL": "http://127.0.0.1:9999", "KHO_CKAN_API_TOKEN_FILE": str(token)})
    assert s.ckan_url == "http://127.0.0.1:9999"
    assert s.ckan_api_token == "tok-file"
    assert "tok-file" not in s.services_env.read_text()  # the file names where the secret is, not it
    monkeypatch.setenv("KHO_CKAN_URL", "https://opendata.tinh.gov.vn")
    monkeypatch.setenv("KHO_CKAN_API_TOKEN", "tok-env")
    assert (s.ckan_url, s.ckan_api_token) == ("https://opendata.tinh.gov.vn", "tok-env")


def test_the_local_superuser_url_carries_the_password_kept_under_kho_home(s):
    assert s.postgres_admin_url == "postgresql://postgres@127.0.0.1:61032"  # before the first start
    write_private(s.postgres_password_file, "p@ss/word\n")
    assert s.postgres_admin_url == "postgresql://postgres:p%40ss%2Fword@127.0.0.1:61032"
    assert s.warehouse_url == "postgresql://postgres:p%40ss%2Fword@127.0.0.1:61032/kho"


def test_services_env_holds_no_password_and_is_the_owners_alone(tmp_path, monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    external = Settings(
        repo=REPO, home=tmp_path, port_base=61000, external_postgres="postgresql://admin:s3cret@db.tinh:5432"
    )
    values = write_services_env(external, {"KHO_PORTAL_URL": "postgresql://reader:hunter2@portal/db"})
    text = external.services_env.read_text()
    assert "s3cret" not in text and "hunter2" not in text
    assert values["KHO_POSTGRES_ADMIN_URL"] == "postgresql://admin@db.tinh:5432"
    assert values["KHO_WAREHOUSE_URL"] == "postgresql://admin@db.tinh:5432/kho"
    assert "KHO_PORTAL_URL" not in values  # a value carrying a password is left out, not written
    assert stat.S_IMODE(external.services_env.stat().st_mode) == 0o600


def test_a_token_an_earlier_version_wrote_into_services_env_is_taken_out(s, tmp_path):
    """An upgrade: services.env still holds the CKAN token itself; the next ``kho up`` keeps the file that
    holds it and drops the copy."""
    write_private(s.services_env, "KHO_CKAN_URL=http://127.0.0.1:9999\nKHO_CKAN_API_TOKEN=tok-old\n")
    token = tmp_path / "token"
    token.write_text("tok-old\n")
    write_services_env(s, {"KHO_CKAN_API_TOKEN_FILE": str(token)})
    assert "tok-old" not in s.services_env.read_text()
    assert s.ckan_api_token == "tok-old"


def test_kho_up_takes_back_what_an_earlier_version_left_open_to_others(s):
    """Files 644 and folders 755 (umask 022) under KHO_HOME, as before: secure_home closes them, but leaves
    PostgreSQL's data folder alone."""
    from kho.operations.services import secure_home

    for path in (
        "ckan/secrets.json",
        "archive/organic_zones/ab/ab12.csv",
        "logs/ckan.log",
        "pgdata/PG_VERSION",
    ):
        (s.home / path).parent.mkdir(parents=True, exist_ok=True)
        (s.home / path).write_text("x")
    for path in [s.home, *s.home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    secure_home(s)
    opened = {p for p in [s.home, *s.home.rglob("*")] if stat.S_IMODE(p.stat().st_mode) & 0o066}
    assert opened == {s.pgdata, s.pgdata / "PG_VERSION"}
    assert stat.S_IMODE((s.home / "ckan" / "secrets.json").stat().st_mode) == 0o600
