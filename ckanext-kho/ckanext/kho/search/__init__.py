"""PostgreSQL stand-in for the Solr core CKAN searches.

CKAN builds Solr documents and Lucene queries in ``ckan.lib.search`` and hands them to a pysolr
connection. This package answers that connection's calls from a table in CKAN's own database, so the
rest of CKAN (permission labels, facets, ``package_search``, the dataset pages) runs unchanged:

- :mod:`.analysis` turns Vietnamese (and English) text into the words that are indexed and searched;
- :mod:`.fields` knows which Solr field is a string, a text or a date field (from CKAN's schema.xml);
- :mod:`.lucene` parses the subset of Lucene syntax CKAN emits into a small tree;
- :mod:`.sql` translates that tree into a WHERE clause over the index table;
- :mod:`.connection` is the pysolr look-alike (``add``, ``delete``, ``search``, ``commit``);
- :func:`.connection.install` points ``ckan.lib.search`` at it.

Only :mod:`.connection` imports CKAN and pysolr; the other modules are plain Python (and unit-tested
without CKAN).
"""
