"""Conforming: the raw tables into the shared warehouse. Drive dbt (``dbt``), rebuild an incremental model
whole when what built it changed (``incremental``), the agencies' roles and grants (``access``), and how
well delivered commune names matched (``match_report``)."""
