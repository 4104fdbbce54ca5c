"""Stands in for psycopg 3 where it is not installed: with this folder first on
PYTHONPATH, `import psycopg` fails as it does in an install without it, so Django's
PostgreSQL backend (django.db.backends.postgresql.psycopg_any) runs on psycopg2.
Used by the psycopg2 host (tests/hosts/emailuser) and `make test-psycopg2`."""

raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
