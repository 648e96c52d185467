"""Exit 0 if the PostgreSQL server named by LEDGERGATE_TEST_POSTGRES_URL answers, else say why."""

import os
import sys

import psycopg
from sqlalchemy.engine import make_url

url = make_url(os.environ["LEDGERGATE_TEST_POSTGRES_URL"]).set(drivername="postgresql")
try:
    psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=10).close()
except psycopg.Error as exc:
    sys.exit(f"PostgreSQL at {url.render_as_string()} is unreachable: {exc}")
