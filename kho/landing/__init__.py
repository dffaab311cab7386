"""Landing: a delivered file into its raw table. Decode the bytes (``decode``, ``legacy_vn``), read the
format (``readers/``), convert each cell to its catalog type (``values``), check place names (``names``,
``areas``), and land it whole or not at all (``land``; clean CSV set-based through Arrow: ``bulk``)."""
