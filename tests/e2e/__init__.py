"""End-to-end tests: one package, so that its Airflow (tests/e2e/conftest.py) stops when the package ends."""
