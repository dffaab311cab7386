"""A data steward reads the quality gate's findings in Great Expectations' Data Docs, in a real (headless)
chromium that reaches no CDN (as on a government intranet): the index lists the validations, and the page of
a failed one shows the failing expectation with its observed value, styled and scripted from the site itself.

Runs against test_quality's own embedded PostgreSQL and GX project (no other service). Screenshots go to
``artifacts/browser/``. Needs Debian's ``chromium`` and the npm assets ``make install`` installs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kho.settings import REPO
from kho.validating.data_docs import VENDOR, external_assets, missing_assets
from kho.validating.quality import build_data_docs, validate
from tests.integration.test_quality import quality_db, quality_settings  # noqa: F401 - fixtures

CHROMIUM = os.environ.get("KHO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]


def test_a_steward_reads_a_failed_validation_offline(quality_db, quality_settings, tmp_path):  # noqa: F811
    from tests.browser.cdp import Browser

    assert not missing_assets(), "Data Docs' npm assets are not installed (make install)"
    # the incident: Hà Nội's maize yield for 2014 delivered as 950 where 95.0 q/ha belonged, so 95 t/ha
    quality_db.execute(
        "update marts.fct_crop_production set yield_t_per_ha = 95"
        " where province_code = '01' and crop = 'maize' and year = 2014"
    )
    result = validate("crop_statistics", "mart", s=quality_settings)
    assert not result.success
    index = build_data_docs([result.run_id], s=quality_settings)
    (page,) = [p for p in (index.parent / "validations").rglob("*.html") if result.run_id in str(p)]

    # nothing left to fetch from another host, and the local copies are there
    for html in (index, page):
        assert external_assets(html.read_text(encoding="utf-8")) == [], html
    assert (index.parent / VENDOR / "jquery" / "dist" / "jquery.min.js").is_file()

    with Browser(downloads=tmp_path / "downloads", executable=CHROMIUM, timeout=60) as browser:
        try:
            # the index: Bootstrap's styles applied, and bootstrap-table (jQuery) lists the validation
            browser.open(index.as_uri())
            listed = browser.wait_for(
                """(() => {
                    const rows = document.querySelectorAll('.bootstrap-table table tbody tr');
                    return rows.length && document.body.innerText.includes('crop_statistics.mart')
                        ? rows.length : 0;
                })()""",
                timeout=30,
            )
            assert listed >= 1
            assert browser.evaluate("typeof jQuery") == "function"
            # Bootstrap's navbar is a flex box; unstyled, it is a plain block
            assert (
                browser.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
            )
            assert (
                browser.evaluate("document.querySelector('.navbar-brand img').naturalWidth") > 0
            )  # the logo
            browser.screenshot(ARTIFACTS / "data_docs_01_index.png")

            # the failed validation's page, reached from the index as a steward would
            browser.click_and_wait(f'tr[data-href*="{result.run_id}"]')  # a clickable row
            text = browser.wait_for(
                "document.body.innerText.includes('yield_t_per_ha') ? document.body.innerText : ''",
                timeout=30,
            )
            assert "crop_statistics.mart" in text
            failed = browser.evaluate(
                """Array.from(document.querySelectorAll('tr'))
                    .filter(tr => tr.querySelector('.fa-times, .text-danger'))
                    .map(tr => tr.innerText)"""
            )
            impossible = [row for row in failed if "maize" in row and "20" in row]
            assert impossible, failed  # the impossible-maize-yield rule, failed...
            assert "95" in impossible[0]  # ...with the value it found
            browser.screenshot(ARTIFACTS / "data_docs_02_failed_validation.png")
        except Exception:
            browser.screenshot(ARTIFACTS / "data_docs_failed.png")
            raise
