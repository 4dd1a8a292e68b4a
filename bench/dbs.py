"""Scratch databases for the bench scripts: created empty, dropped (with force) afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@contextmanager
def scratch_database(base_dsn: str, prefix: str) -> Iterator[str]:
    """A new empty database named `<prefix>_<random>` on the server of `base_dsn` (whose role
    may CREATE DATABASE); yields its DSN and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_dsn, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    params = conninfo_to_dict(base_dsn)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')
