"""Kho: collect agency data, conform it in a shared PostgreSQL warehouse, check it, publish the open part."""
