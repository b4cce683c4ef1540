"""Ports, the local Argilla's environment and the PostgreSQL server the service tests use."""

from __future__ import annotations


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What the stack and the Dagster resources read: set for the argilla_stack session only.
ARGILLA_ENV = ("ARGILLA_API_KEY", "ARGILLA_PASSWORD", "ARGILLA_API_URL", "EMBEDLOOP_ARGILLA_DATA")


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def admin(statement: str) -> None:
    # CREATE/DROP DATABASE refuse to run in a transaction, so no `with conn:` here.
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()
