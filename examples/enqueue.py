"""Enqueue the example jobs of examples/tasks.py (used by `make run`).

    DATABASE_URL=postgresql:///mydb python examples/enqueue.py

The jobs are added in one transaction with the Python enqueue API: either all of them are
stored, or none.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import psycopg

from gw_runner import JobSpec, add_job, add_jobs


def main() -> None:
    with psycopg.connect(os.environ.get("DATABASE_URL", "")) as conn, conn.transaction():
        emails = add_jobs(conn, [
            JobSpec("send_email", {"to": f"user{i}@example.com", "subject": "Welcome!"})
            for i in range(1, 4)
        ])
        bad = add_job(conn, "send_email", {"to": "nobody", "subject": "Bounce"})
        flaky = add_job(conn, "flaky_sync", {"succeed_on_attempt": 3}, max_attempts=5)
        report = add_job(
            conn, "nightly_report", {"name": "sales"},
            run_at=datetime.now(UTC) + timedelta(seconds=5),
            job_key="nightly_report:sales",  # enqueueing it again replaces the pending one
        )
    print(f"enqueued send_email jobs {[j.id for j in emails]} and {bad.id} (a bad address),")
    print(f"flaky_sync job {flaky.id} (succeeds on its 3rd attempt, about 10 s from now),")
    print(f"nightly_report job {report.id} (scheduled for {report.run_at:%H:%M:%S} UTC)")


if __name__ == "__main__":
    main()
