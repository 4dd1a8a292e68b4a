"""Screenshots of the dashboard's main pages for the docs (docs/img/dashboard-*.png).

    python bench/dashboard_screenshots.py --dsn "host=... dbname=postgres" [--out docs/img]

Builds a scratch database with demo data (jobs of a few tasks and queues, failed ones with
their attempts, a paused task, a limit, two registered workers, a crontab, and an hour of
finished jobs for the chart), serves it with `python -m gw_runner.dashboard --actions`, and
takes full-page screenshots with Debian's chromium through Playwright.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import psycopg
from dbs import scratch_database

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CRONTAB = "0 4 * * * nightly_report\n*/15 * * * * sync_accounts ?max=3\n"
FINISHED_SQL = """
insert into graphile_worker._private_finished_jobs (id, task_identifier, queue_name, payload,
  priority, attempts, max_attempts, outcome, result, last_error, created_at, first_started_at,
  finished_at, worker_id, expires_at)
select -i, (array['send_email', 'resize_image', 'charge_card'])[1 + i % 3],
  null, '{}', 0, 1, 25, case when i % 17 = 0 then 'failed' else 'completed' end, '{"ok": true}',
  case when i % 17 = 0 then 'timeout' end,
  now() - (i * interval '1 second') * (1 + sin(i / 300.0) ^ 2),
  now() - (i * interval '1 second') * (1 + sin(i / 300.0) ^ 2),
  now() - (i * interval '1 second') * (1 + sin(i / 300.0) ^ 2), 'worker-a',
  now() + interval '1 day'
from generate_series(1, 3000) as i
"""


def demo(conn: psycopg.Connection) -> int:
    """Demo data; returns the id of a failed job."""
    conn.execute("select graphile_worker.set_retention(null, '1 day')")
    conn.execute(FINISHED_SQL)
    for task, queue, n in (("send_email", None, 140), ("resize_image", "images", 60),
                           ("charge_card", "payments", 12), ("sync_accounts", None, 5)):
        conn.execute(
            "select count(*) from graphile_worker.add_jobs(array(select row(%s,"
            " json_build_object('n', i), %s, null, null, null, null, null)"
            "::graphile_worker.job_spec from generate_series(1, %s) i))", (task, queue, n))
    conn.execute("select graphile_worker.add_job('nightly_report', null,"
                 " run_at => now() + interval '6 hours')")
    failed = conn.execute(
        "select id from graphile_worker.add_job('refund_payment', %s::json,"
        " max_attempts => 3, job_key => 'invoice-2026-0042')",
        (json.dumps({"invoice": "2026-0042", "amount_cents": 129900}),)).fetchone()
    assert failed is not None
    for attempt, error in enumerate(("card declined: insufficient funds",
                                     "gateway timeout after 30 s",
                                     "card declined: insufficient funds"), start=1):
        conn.execute("select graphile_worker.reschedule_jobs(array[%s]::bigint[],"
                     " run_at => now())", (failed[0],))
        conn.execute("select id from graphile_worker.get_jobs('worker-b',"
                     " array['refund_payment'], 1)")
        conn.execute("select * from graphile_worker.report_jobs('worker-b', null, %s::json)",
                     (json.dumps([{"id": failed[0], "message": f"{error} (attempt {attempt})"}
                                  ]),))
    conn.execute("select graphile_worker.pause_tasks(array['resize_image'])")
    conn.execute("select graphile_worker.set_task_limits('charge_card', 4, 100,"
                 " interval '1 minute')")
    for worker in ("worker-a", "worker-b"):
        conn.execute("select graphile_worker.register_worker(%s, info => %s::jsonb)",
                     (worker, json.dumps({"host": "app-1", "concurrency": 10})))
    conn.execute("select id from graphile_worker.get_jobs('worker-a', array['send_email'], 3)")
    conn.execute("select graphile_worker.register_crontab(%s)", (CRONTAB,))
    conn.execute("analyze")
    return int(failed[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="a database on the server (CREATE DATABASE)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with scratch_database(args.dsn, "gw_screenshots") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
            failed = demo(conn)
        server = subprocess.Popen(
            [sys.executable, "-m", "gw_runner.dashboard", "-c", dsn, "--port", "0",
             "--actions", "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            found = re.search(r"(http://\S+?)/ ", server.stdout.readline())
            assert found
            base = found.group(1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                for name, path in (("overview", "/"), ("jobs", "/jobs"),
                                   ("job", f"/jobs/{failed}"), ("tasks", "/tasks"),
                                   ("workers", "/workers"), ("cron", "/cron")):
                    page.goto(base + path)
                    page.wait_for_selector("body[data-live-mode]")
                    target = out / f"dashboard-{name}.png"
                    page.screenshot(path=str(target), full_page=name != "jobs")
                    print(target)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
