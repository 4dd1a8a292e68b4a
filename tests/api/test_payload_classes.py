"""Payload classes: a task type that carries its identifier and handles its own jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from helpers import one, run, scalar

from gw_runner import JobContext, TaskFileError, Worker, add_jobs, spec_of, task
from gw_runner._loader import collect_tasks

handled: list[tuple[str, int, int]] = []


@task("images/resize")
@dataclass
class Resize:
    image: str
    width: int

    def handle(self, ctx: JobContext) -> None:  # sync: runs on a worker thread
        handled.append((self.image, self.width, ctx.attempts))


@dataclass
class Ping:  # not marked: identifier = class name; handle without ctx
    n: int

    async def handle(self) -> None:
        handled.append(("ping", self.n, 0))


def test_payload_classes_enqueued_with_spec_of_are_converted_and_handled(db, dsn):
    handled.clear()
    add_jobs(db, [spec_of(Resize("a.jpg", 64), priority=1), spec_of(Ping(7))])
    assert {r[0] for r in db.execute(
        "select task_identifier from graphile_worker.jobs").fetchall()} == {"images/resize", "Ping"}
    db.execute("select graphile_worker.add_job('images/resize', json_build_object('image', 'b'))")
    assert run(Worker([Resize, Ping], connection=dsn).run_once()) == 0
    assert sorted(handled) == [("a.jpg", 64, 1), ("ping", 7, 0)]
    # the payload without a width does not fit the class: failed for good, with the field named
    bad = one(db, "select attempts, max_attempts, last_error from graphile_worker.jobs")
    assert bad["attempts"] == bad["max_attempts"]
    assert "width" in bad["last_error"] and bad["last_error"].startswith("invalid payload")
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 1


def test_payload_class_registration_rules():
    specs = collect_tasks([Resize, Ping])
    assert set(specs) == {"images/resize", "Ping"}
    assert collect_tasks({"other": Resize})["other"].fn is specs["images/resize"].fn

    class NoHandle:
        pass

    with pytest.raises(TaskFileError, match="not marked with @task"):
        collect_tasks([NoHandle])  # type: ignore[list-item]

    @dataclass
    class Sub(Resize):  # a subclass does not inherit the parent's identifier
        pass

    assert set(collect_tasks([Sub])) == {"Sub"}


def test_spec_of_refuses_what_is_not_a_payload_instance():
    with pytest.raises(TypeError, match="dataclass or pydantic"):
        spec_of({"image": "a.jpg"})
    spec: Any = spec_of(Resize("a.jpg", 1), job_key="k", flags=["f"])
    assert (spec.identifier, spec.payload, spec.job_key, spec.flags) == (
        "images/resize", {"image": "a.jpg", "width": 1}, "k", ["f"])
