"""Operations: running Kho on one machine. The local PostgreSQL and Redis (``services``), CKAN
(``ckan_server``), the whole stack up and down (``stack``), Airflow's environment and the DAG runner
(``airflow``, ``runs``, ``dag_runner``) and the per-dataset status. No stage imports this package: stages
find services through ``kho.settings``."""
