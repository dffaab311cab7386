"""CKAN plugin ``kho_public_sql``: the DataStore's SQL endpoint, bounded for the public.

``datastore_search_sql`` runs for anyone but a sysadmin with a statement timeout of
``ckanext.kho.public_sql.timeout_ms`` (default 3000 ms; CKAN's own is 60 s), so one slow query holds a
portal worker for seconds, not a minute. The row cap is CKAN's ``ckan.datastore.search.rows_max``.
"""

from __future__ import annotations

from typing import Any

import ckan.plugins as plugins
import ckan.plugins.toolkit as toolkit

DEFAULT_TIMEOUT_MS = 3000


@toolkit.chained_action
def datastore_search_sql(up_func, context, data_dict: dict[str, Any]):
    user = context.get("auth_user_obj")
    if not (user and getattr(user, "sysadmin", False)):
        timeout = toolkit.asint(toolkit.config.get("ckanext.kho.public_sql.timeout_ms") or DEFAULT_TIMEOUT_MS)
        context["query_timeout"] = min(timeout, toolkit.asint(context.get("query_timeout") or timeout))
    return up_func(context, data_dict)


class PublicSqlPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IActions)

    def get_actions(self) -> dict[str, Any]:
        return {"datastore_search_sql": datastore_search_sql}
