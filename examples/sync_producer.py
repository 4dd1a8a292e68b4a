"""A synchronous producer (a Django view, a script, a Flask handler): enqueue with the sync
API inside the transaction that writes the row the job is about.

    DATABASE_URL=postgresql:///mydb python examples/sync_producer.py     # create orders
    python -m gw_runner examples/sync_producer.py --once                  # run their jobs

With Django (4.2+, psycopg 3 backend), ``django.db.connection.connection`` *is* a
``psycopg.Connection``, so the same call joins the ORM's transaction::

    from django.db import connection, transaction
    from gw_runner import add_job

    def checkout(request):
        with transaction.atomic():
            order = Order.objects.create(total=42)
            connection.ensure_connection()
            add_job(connection.connection, "send_receipt", {"order_id": order.pk})
        ...

(With the psycopg2 backend use the plain SQL form of docs/enqueue.md.) The job becomes
visible when the order does; if the transaction rolls back, there is no job either.

This file is also the task file of its jobs (the runner imports it; ``main`` does not run).
"""

from __future__ import annotations

import os
from typing import Any

import psycopg

from gw_runner import JobContext, add_job, task

SCHEMA = """
create table if not exists orders (
  id bigint generated always as identity primary key,
  total numeric not null,
  receipt_sent_at timestamptz
)
"""


def create_order(conn: psycopg.Connection[Any], total: float) -> tuple[int, int]:
    """What the view does: the order and its receipt job commit together."""
    with conn.transaction():
        order_id = conn.execute(
            "insert into orders (total) values (%s) returning id", (total,)
        ).fetchone()[0]  # type: ignore[index]
        job = add_job(conn, "send_receipt", {"order_id": order_id},
                      job_key=f"receipt:{order_id}")
    return order_id, job.id


@task
def send_receipt(payload: dict[str, Any], ctx: JobContext) -> None:
    """Sync handler (runs on a worker thread): mark the receipt as sent."""
    with psycopg.connect(os.environ.get("DATABASE_URL", ""), autocommit=True) as conn:
        conn.execute("update orders set receipt_sent_at = now() where id = %s",
                     (payload["order_id"],))
    ctx.logger.info("receipt sent for order %s", payload["order_id"])


def main() -> None:
    with psycopg.connect(os.environ.get("DATABASE_URL", "")) as conn:
        conn.execute(SCHEMA)
        conn.commit()
        for total in (10, 25.5, 99):
            order_id, job_id = create_order(conn, total)
            print(f"order {order_id}: receipt job {job_id}")
        try:
            with conn.transaction():
                conn.execute("insert into orders (total) values (1)")
                add_job(conn, "send_receipt", {"order_id": -1})
                raise RuntimeError("payment declined")
        except RuntimeError as e:
            print(f"rolled back ({e}): no order, no job")


if __name__ == "__main__":
    main()
