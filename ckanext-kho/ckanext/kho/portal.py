"""CKAN plugin ``kho_portal``: the province's own portal on top of CKAN.

Name, logo, colours and introduction are ``ckan.ini`` options (``ckan.site_title``, ``ckan.site_logo``,
``ckan.site_intro_text`` and the ``ckanext.kho.*`` options declared below), never code. The home page
shows the themes (CKAN groups), featured datasets, counts and the latest updates; every public page is
Vietnamese first, English second (``h.kho_t``). Dataset fields come from the ckanext-scheming schema
``schemas/dataset.yaml``; the chained actions and the validator here let it read what the publisher sends.
"""

from __future__ import annotations

import json
from typing import Any

import ckan.plugins as plugins
import ckan.plugins.toolkit as tk
from ckan.lib.navl.dictization_functions import Invalid, missing
from ckan.lib.plugins import DefaultTranslation

from ckanext.kho import page_cache

FEATURED_DEFAULT = ""
LATEST = 5


class PortalPlugin(plugins.SingletonPlugin, DefaultTranslation):
    plugins.implements(plugins.IConfigurer)
    plugins.implements(plugins.IConfigDeclaration)
    plugins.implements(plugins.ITemplateHelpers)
    plugins.implements(plugins.IValidators)
    plugins.implements(plugins.IActions)
    # i18n/vi: CKAN's strings a visitor sees that CKAN's Vietnamese catalogue leaves in English
    plugins.implements(plugins.ITranslation)
    plugins.implements(plugins.IMiddleware, inherit=True)
    plugins.implements(plugins.IPackageController, inherit=True)
    plugins.implements(plugins.IResourceController, inherit=True)
    plugins.implements(plugins.IGroupController, inherit=True)

    def update_config(self, config) -> None:
        tk.add_template_directory(config, "templates")
        tk.add_public_directory(config, "public")

    def declare_config_options(self, declaration, key) -> None:
        section = key.ckanext.kho
        declaration.annotate("Kho portal")
        declaration.declare(section.site_title_en, "Open data portal")
        declaration.declare(section.site_intro_text_en, "")
        declaration.declare(section.site_about_en, "")
        declaration.declare(section.colour_primary, "#0b4f8a")
        declaration.declare(section.colour_header, "#0b3a66")
        declaration.declare(section.colour_accent, "#b3261e")
        declaration.declare(section.featured, FEATURED_DEFAULT)
        declaration.declare_int(section.page_cache_seconds, 300)

    # --- the page cache for anonymous visitors (page_cache.py) -----------------------------------

    def make_middleware(self, app, config):
        from ckan.lib.redis import connect_to_redis

        seconds = int(config.get("ckanext.kho.page_cache_seconds") or 0)
        if seconds <= 0:
            return app
        locales = config.get("ckan.locales_offered") or []
        if isinstance(locales, str):
            locales = locales.split()
        redis = connect_to_redis()
        page_cache.invalidate(redis)  # a (re)started portal may render differently: start afresh
        return page_cache.PageCache(app, redis, seconds, locales=locales)

    def _changed(self, *_args, **_kwargs) -> None:
        from ckan.lib.redis import connect_to_redis

        page_cache.invalidate(connect_to_redis())

    after_dataset_create = after_dataset_update = after_dataset_delete = _changed
    after_resource_create = after_resource_update = after_resource_delete = _changed
    create = edit = delete = _changed  # IGroupController: groups and organizations

    def get_helpers(self) -> dict[str, Any]:
        return {
            "kho_t": kho_t,
            "kho_site_title": kho_site_title,
            "kho_intro": kho_intro,
            "kho_about_en": lambda: tk.config.get("ckanext.kho.site_about_en"),
            "kho_colours": kho_colours,
            "kho_home": kho_home,
            "kho_language_links": kho_language_links,
        }

    def get_validators(self) -> dict[str, Any]:
        return {"kho_json_list": kho_json_list}

    def get_actions(self) -> dict[str, Any]:
        return {
            "package_create": package_create,
            "package_update": package_update,
            "package_patch": package_patch,
            "resource_view_create": resource_view_create,
            "resource_view_update": resource_view_update,
            "resource_view_delete": resource_view_delete,
        }


# --- languages -----------------------------------------------------------------------------------


def _english() -> bool:
    try:
        return tk.h.lang() == "en"
    except (RuntimeError, AttributeError):  # outside a request
        return False


def kho_t(vi: str, en: str) -> str:
    """The Vietnamese text, or the English one on the English pages (/en/...)."""
    return en if _english() else vi


def kho_site_title() -> str:
    return kho_t(tk.config.get("ckan.site_title"), tk.config.get("ckanext.kho.site_title_en"))


def kho_intro() -> str:
    english = tk.config.get("ckanext.kho.site_intro_text_en")
    return english if _english() and english else tk.config.get("ckan.site_intro_text") or ""


def kho_colours() -> dict[str, str]:
    return {name: tk.config.get(f"ckanext.kho.colour_{name}") for name in ("primary", "header", "accent")}


def kho_language_links() -> list[dict[str, Any]]:
    """The current page in each offered language: plain links (a cached page holds no form to post)."""
    from ckan.common import request

    offered = tk.config.get("ckan.locales_offered") or ["vi", "en"]
    if isinstance(offered, str):
        offered = offered.split()
    default = tk.config.get("ckan.locale_default") or "vi"
    names = {"vi": "Tiếng Việt", "en": "English"}
    path = request.path
    current = tk.h.lang()
    for locale in offered:
        if path == f"/{locale}" or path.startswith(f"/{locale}/"):
            path = path[len(locale) + 1 :] or "/"
            break
    query = request.query_string.decode() if request.query_string else ""
    links = []
    for locale in offered:
        href = path if locale == default else f"/{locale}{path}"
        links.append(
            {
                "locale": locale,
                "name": names.get(locale, locale),
                "href": tk.h.url_for_static(href) + (f"?{query}" if query else ""),
                "current": locale == current,
            }
        )
    return links


# --- the home page -------------------------------------------------------------------------------


def kho_home() -> dict[str, Any]:
    """Everything the home page shows, in four action calls (anonymous, as the visitor)."""
    context = {"ignore_auth": False}
    action = tk.get_action
    groups = action("group_list")(context, {"all_fields": True, "sort": "title asc"})
    found = action("package_search")(
        context, {"rows": LATEST, "sort": "metadata_modified desc", "include_private": False}
    )
    orgs = action("organization_list")(context, {})
    featured = []
    for name in tk.config.get("ckanext.kho.featured").split():
        try:
            featured.append(action("package_show")(context, {"id": name}))
        except (tk.ObjectNotFound, tk.NotAuthorized):
            continue
    return {
        "kpis": _kpis(context),
        "themes": groups,
        "latest": found["results"],
        "featured": featured,
        "counts": {"datasets": found["count"], "organizations": len(orgs), "themes": len(groups)},
    }


def _kpis(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures: the latest point of each KPI series the publisher wrote (publishers/kpi.py)."""
    found = tk.get_action("package_search")(context, {"rows": 1000, "include_private": False})
    figures = []
    for pkg in found["results"]:
        for res in pkg.get("resources", []):
            if res.get("kho_kind") != "kpi_series" or not res.get("kho_kpi_latest"):
                continue
            figures.append(
                {
                    "id": res.get("kho_kpi"),
                    "name": kho_t(res.get("kho_kpi_name_vi", ""), res.get("kho_kpi_name_en", "")),
                    "value": _number(res["kho_kpi_latest"]),
                    "unit": kho_t(res.get("kho_kpi_unit_vi", ""), res.get("kho_kpi_unit_en", "")),
                    "period": res.get("kho_kpi_latest_x", "")[:10],
                    "url": tk.h.url_for("resource.read", id=pkg["name"], resource_id=res["id"]),
                }
            )
    return sorted(figures, key=lambda f: f["id"] or "")


def _number(text: str) -> str:
    """A figure as the reader's language writes it: 92,3 in Vietnamese, 92.3 in English."""
    try:
        value = float(text)
    except ValueError:
        return text
    shown = f"{value:,.2f}".rstrip("0").rstrip(".")
    if _english():
        return shown
    return shown.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


# --- validators for the scheming schema ----------------------------------------------------------


def _lift_extras(data_dict: dict[str, Any]) -> dict[str, Any]:
    """An extra whose key is a field of the schema becomes that field.

    The publisher writes DCAT values as free extras (``frequency``, ``language``...); with the schema
    they are fields, which CKAN refuses as extras ("There is a schema field with the same name").
    """
    schema = tk.h.scheming_get_dataset_schema(data_dict.get("type") or "dataset") or {}
    fields = {f["field_name"] for f in schema.get("dataset_fields", [])}
    extras = data_dict.get("extras")
    if not fields or not isinstance(extras, list):
        return data_dict
    lifted = {e["key"]: e.get("value") for e in extras if isinstance(e, dict) and e.get("key") in fields}
    kept = [e for e in extras if not (isinstance(e, dict) and e.get("key") in fields)]
    return {**data_dict, **lifted, "extras": kept}


@tk.chained_action
def package_create(original, context, data_dict):
    return original(context, _lift_extras(data_dict))


@tk.chained_action
def package_update(original, context, data_dict):
    return original(context, _lift_extras(data_dict))


@tk.chained_action
def package_patch(original, context, data_dict):
    return original(context, _lift_extras(data_dict))


def _view_changed(original, context, data_dict):
    """A resource view changed: cached pages showing it are stale (no CKAN hook says so)."""
    from ckan.lib.redis import connect_to_redis

    result = original(context, data_dict)
    page_cache.invalidate(connect_to_redis())
    return result


@tk.chained_action
def resource_view_create(original, context, data_dict):
    return _view_changed(original, context, data_dict)


@tk.chained_action
def resource_view_update(original, context, data_dict):
    return _view_changed(original, context, data_dict)


@tk.chained_action
def resource_view_delete(original, context, data_dict):
    return _view_changed(original, context, data_dict)


def kho_json_list(value: Any) -> Any:
    """A JSON list given as text (as the publisher writes ``language``) becomes the list."""
    if value is missing or value is None or not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise Invalid("not a JSON list") from None
        if isinstance(parsed, list):
            return parsed
    return value
