"""CKAN plugin ``kho_pgsearch``: CKAN's search served from PostgreSQL, for portals that run without Solr.

Enable it in ``ckan.plugins``; no other setting is needed. The index lives in the table
``kho_search_index`` of CKAN's own database, created on first use; ``ckan search-index rebuild``
fills it from the datasets, exactly as it would fill Solr.
"""

from __future__ import annotations

import ckan.plugins as plugins

from ckanext.kho.search.connection import install


class PgSearchPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IConfigurer)

    def update_config(self, config) -> None:
        # CKAN loads plugins before it first touches search (the Solr schema check comes right after
        # IConfigurer), so this is early enough for the web app and for every `ckan` command.
        install()
