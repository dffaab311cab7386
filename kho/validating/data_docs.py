"""Data Docs that render without the internet: the scripts, styles and fonts GX's pages load from public CDNs
(Bootstrap, jQuery, bootstrap-table, Vega, Font Awesome) served from the site itself.

Great Expectations writes ``<script src="https://unpkg.com/...">`` into every page. On a government intranet,
or in a browser that reaches 127.0.0.1 only, none of them loads: the index is an unstyled page whose list of
validations (a bootstrap-table filled in by jQuery) never appears. The same files, at the versions GX names,
are npm packages pinned in ``requirements/data-docs/`` that ``scripts/install.sh`` installs; after GX renders
pages, :func:`serve_assets_locally` copies the files into ``<site>/static/vendor/`` and points the pages at them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from kho.settings import REPO

log = logging.getLogger(__name__)

# Where install.sh puts the npm packages (KHO_DATA_DOCS_ASSETS overrides it, e.g. in an image built elsewhere).
ASSETS_VARIABLE = "KHO_DATA_DOCS_ASSETS"
DEFAULT_ASSETS = REPO / ".kho" / "assets" / "data-docs" / "node_modules"
VENDOR = Path("static") / "vendor"

# Each URL GX 1.x's templates name (great_expectations/render/view/templates/*.j2), and the file of the pinned
# npm package holding the same code. GX names bootstrap-table's filter-control styles at 1.19.0 and its
# scripts at 1.19.1; 1.19.1's are shipped for both.
CDN_FILES: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css"
    ),
}
# Folders a shipped stylesheet reads from by relative URL (Font Awesome's ../webfonts/).
CDN_FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)
# GX's logo in the top bar comes from its S3 bucket; the site's own static/images/ holds the same file.
LOGO_URL = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+?)(\?[^\"']*)?(?=[\"'])"
)
TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
URL_ATTRIBUTE = re.compile(r"""\b(src|href)=(["'])(https://[^"']+)\2""")
# Subresource integrity needs a CORS fetch, which a page opened from file:// cannot make: a local copy's
# attributes go (the copy comes from the npm lock file, whose own integrity hashes npm checked).
CORS_ATTRIBUTES = re.compile(r"""\s(integrity|crossorigin)(=(["'])[^"']*\3)?""")


def assets_dir() -> Path:
    """The installed npm packages (``node_modules``) the local copies come from."""
    return Path(os.environ.get(ASSETS_VARIABLE) or DEFAULT_ASSETS)


def missing_assets(assets: Path | None = None) -> list[str]:
    """The files of :data:`CDN_FILES` not installed (``make install`` installs them)."""
    assets = assets or assets_dir()
    return [f for f in (*CDN_FILES.values(), *CDN_FOLDERS) if not (assets / f).exists()]


def copy_assets(site: Path, assets: Path | None = None) -> bool:
    """Copy the files the pages need into ``<site>/static/vendor/`` (only those missing or changed); False if
    they are not installed."""
    assets = assets or assets_dir()
    if missing_assets(assets):
        return False
    vendor = site / VENDOR
    for name in CDN_FILES.values():
        _copy(assets / name, vendor / name)
    for folder in CDN_FOLDERS:
        for path in (assets / folder).iterdir():
            _copy(path, vendor / folder / path.name)
    return True


def _copy(source: Path, target: Path) -> None:
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def localise_page(html: str, page: Path, site: Path) -> str:
    """``html`` (a page of the site at ``page``) with every CDN URL of :data:`CDN_FILES` replaced by the
    relative path of the local copy, and GX's logo taken from the site's own images."""
    up = Path(os.path.relpath(site, page.parent))

    def local(url: str) -> str | None:
        name = CDN_FILES.get(url)
        return None if name is None else (up / VENDOR / name).as_posix()

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        attribute = URL_ATTRIBUTE.search(text)
        if attribute is None or (path := local(attribute.group(3))) is None:
            return text
        text = text[: attribute.start(3)] + path + text[attribute.end(3) :]
        return CORS_ATTRIBUTES.sub("", text)

    html = TAG.sub(tag, html)
    return LOGO_URL.sub(lambda m: (up / "static" / "images" / m.group(1)).as_posix(), html)


def serve_assets_locally(site: Path, since: float | None = None, assets: Path | None = None) -> int:
    """Point the site's pages at local copies of their CDN assets; the number of pages rewritten.

    ``since`` (a time as ``time.time()`` gives it) limits the work to the pages GX wrote since then (the index
    and the pages of one build); None rewrites every page. Without the installed packages the pages are left
    as GX wrote them, with a warning: they still render where the CDNs can be reached.
    """
    if not copy_assets(site, assets):
        log.warning(
            "Data Docs: %s not installed (make install); the pages load them from public CDNs",
            ", ".join(missing_assets(assets)[:3]),
        )
        return 0
    rewritten = 0
    for page in site.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since:
            continue
        html = page.read_text(encoding="utf-8")
        local = localise_page(html, page, site)
        if local != html:
            page.write_text(local, encoding="utf-8")
            rewritten += 1
    return rewritten


def external_assets(html: str) -> list[str]:
    """The scripts, stylesheets and images a page still loads from another host."""
    found = [m.group(3) for m in map(URL_ATTRIBUTE.search, TAG.findall(html)) if m]
    found += re.findall(r"""<img\b[^>]*\bsrc=["'](https?://[^"']+)""", html)
    return found
