"""Data Docs pages point at the site's own copies of the scripts and styles GX loads from CDNs
(kho/validating/data_docs.py). No database needed; the browser test (tests/browser/test_data_docs.py) opens them."""

from __future__ import annotations

import re

import pytest

from kho.settings import REPO
from kho.validating.data_docs import CDN_FILES, external_assets, localise_page, missing_assets

TEMPLATES = sorted(
    (REPO / ".kho" / "venvs" / "main" / "lib").glob(
        "python3*/site-packages/great_expectations/render/view/templates/*.j2"
    )
)


def test_every_cdn_file_gx_names_has_a_local_copy():
    """A GX upgrade that names another CDN file fails here, not in a steward's browser."""
    if not TEMPLATES:
        pytest.skip("GX is not installed in .kho/venvs/main")
    named = set()
    for template in TEMPLATES:
        text = template.read_text(encoding="utf-8")
        named |= set(re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["'](https://[^"']+)["']""", text))
    assert named and named <= set(CDN_FILES), sorted(named - set(CDN_FILES))


def test_a_page_deep_in_the_site_gets_relative_paths_and_no_cors_attributes(tmp_path):
    site = tmp_path / "local_site"
    page = site / "validations" / "crop_statistics" / "mart" / "run" / "20261207T000000Z" / "batch.html"
    html = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"'
        ' integrity="sha384-ApNbgh9B+Y1QKtv3Rn7W3mgPxhU9K/ScQsAP7hUibX39j7fakFPskvXusvfa0b4Q"'
        ' crossorigin="anonymous"></script>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20261207" />\n'
        '<a href="https://greatexpectations.io">Great Expectations</a>\n'
    )

    local = localise_page(html, page, site)

    up = "../../../../../"
    assert f'href="{up}static/vendor/bootstrap/dist/css/bootstrap.min.css"' in local
    assert f'src="{up}static/vendor/popper.js/dist/umd/popper.min.js"></script>' in local
    assert f'src="{up}static/images/logo-long.png"' in local
    assert "integrity" not in local and "crossorigin" not in local
    assert 'href="https://greatexpectations.io"' in local  # a link to follow is not an asset
    assert external_assets(local) == []
    assert len(external_assets(html)) == 3


def test_without_the_packages_nothing_is_claimed(tmp_path):
    assert set(missing_assets(tmp_path)) >= set(CDN_FILES.values())
