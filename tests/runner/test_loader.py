"""Task registration and typed payloads, without a database."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import pytest

from gw_runner import TaskFileError, task
from gw_runner._convert import PayloadError, build_converter
from gw_runner._loader import collect_tasks, load_task_file


def test_task_marks_and_returns_the_function():
    @task
    def a(payload, ctx):
        return "a"

    @task("named", timeout=5)
    async def b(payload):
        return "b"

    specs = collect_tasks([a, b])
    assert set(specs) == {"a", "named"}
    assert a(None, None) == "a"  # still callable
    assert specs["a"].is_async is False and specs["a"].wants_ctx is True
    assert specs["named"].is_async is True and specs["named"].wants_ctx is False
    assert specs["named"].timeout == 5


def test_mapping_of_plain_functions():
    def h(payload, ctx=None):
        pass

    specs = collect_tasks({"x": h, "y": h})
    assert set(specs) == {"x", "y"} and specs["x"].wants_ctx


@pytest.mark.parametrize(
    ("handler", "problem"),
    [
        (lambda: None, "takes no payload argument"),
        (lambda a, b, c: None, "requires 3 arguments"),
        (lambda a, *, k: None, "requires keyword-only argument(s) k"),
        ("not callable", "is str, not a function"),
    ],
)
def test_wrong_shapes_are_refused(handler, problem):
    with pytest.raises(TaskFileError, match=re.escape(problem)):
        collect_tasks({"t": handler}, source="mytasks.py")


def test_generators_are_refused():
    def gen(payload):
        yield 1

    with pytest.raises(TaskFileError, match="is a generator"):
        collect_tasks({"g": gen})


def test_identifier_over_128_characters_is_refused():
    with pytest.raises(TaskFileError, match="the limit is 128"):
        collect_tasks({"x" * 129: lambda p: None})


def test_empty_registration_is_refused():
    with pytest.raises(TaskFileError, match="registers no tasks"):
        collect_tasks({})


def test_task_decorator_rejects_bad_arguments():
    with pytest.raises(TypeError):
        task(42)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="timeout"):
        task("x", timeout=0)


def test_task_decorator_rejects_a_timeout_that_is_not_a_number():
    for timeout in ("5", True, [5]):
        with pytest.raises(TypeError, match="@task timeout must be a number of seconds"):
            task("x", timeout=timeout)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="timeout"):
        task("x", timeout=float("nan"))


# --- one rule for identifiers, whichever way a task is named (issue 13, class 10) -------------


def _handler(payload):
    pass


@pytest.mark.parametrize(
    ("identifier", "problem"),
    [
        ("", "task identifier '' is not a non-empty string"),
        ("x" * 129, "task identifier 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... is 129 "
                    "characters long; the limit is 128"),
    ],
)
def test_task_decorator_and_mapping_refuse_the_same_identifiers(identifier, problem):
    with pytest.raises(ValueError) as decorated:
        task(identifier)(_handler)
    assert str(decorated.value) == f"@task: {problem}"
    with pytest.raises(ValueError):
        task(identifier, timeout=5)
    with pytest.raises(TaskFileError) as mapped:
        collect_tasks({identifier: _handler}, source="mytasks.py")
    assert mapped.value.problem.startswith(f"{problem} (handler _handler() (line ")


def test_identifiers_of_128_characters_are_accepted_both_ways():
    name = "x" * 128
    assert set(collect_tasks([task(name)(_handler)])) == {name}
    assert set(collect_tasks({name: _handler})) == {name}


def test_non_str_identifiers_are_refused_both_ways():
    with pytest.raises(TypeError, match=r"@task takes a task identifier \(str\)"):
        task(5)  # type: ignore[call-overload]
    with pytest.raises(TaskFileError, match="task identifier 5 is not a non-empty string"):
        collect_tasks({5: _handler})  # type: ignore[dict-item]


def test_task_file_with_an_empty_task_name_fails_naming_the_file(tmp_path):
    path = tmp_path / "emptyname.py"
    path.write_text(
        "from gw_runner import task\n"
        "@task('')\n"
        "def send_email(payload): pass\n"
    )
    with pytest.raises(TaskFileError) as info:
        load_task_file(path)
    message = str(info.value)
    assert message.startswith(f"task file {path}: failed to import:")
    assert "at line 2: @task('')" in message
    assert "ValueError: @task: task identifier '' is not a non-empty string" in message


def test_a_marked_handler_without_a_name_is_refused_with_a_task_file_error(tmp_path):
    """A marked callable with no __name__ (a functools.partial) listed in `tasks` and given no
    identifier: a TaskFileError that names it, not an AttributeError."""
    path = tmp_path / "nameless.py"
    path.write_text(
        "import functools\n"
        "from gw_runner import task\n"
        "def send(payload, to): pass\n"
        "tasks = [task(functools.partial(send, to='ada'))]\n"
    )
    with pytest.raises(TaskFileError, match=r"task identifier '' is not a non-empty string "
                                            r"\(handler functools.partial\("):
        load_task_file(path)
    with pytest.raises(TaskFileError, match="task identifier '' is not a non-empty string"):
        collect_tasks([task(functools.partial(_handler))])


def test_load_task_file_collects_marked_functions_and_tasks_mapping(tmp_path):
    helper = tmp_path / "shared_helper.py"
    helper.write_text("GREETING = 'hi'\n")
    path = tmp_path / "mytasks.py"
    path.write_text(
        "from gw_runner import task\n"
        "from shared_helper import GREETING\n"
        "@task\n"
        "def one(payload, ctx): return GREETING\n"
        "def two(payload): pass\n"
        "tasks = {'two': two, 'one_alias': one}\n"
    )
    specs = load_task_file(path)
    assert set(specs) == {"one", "two", "one_alias"}
    assert specs["one"].fn(None, None) == "hi"


def test_load_task_file_error_names_the_file(tmp_path):
    path = tmp_path / "nothing.py"
    path.write_text("x = 1\n")
    with pytest.raises(TaskFileError) as info:
        load_task_file(path)
    assert str(info.value).startswith(f"task file {path}: registers no tasks")


# --- typed payloads ----------------------------------------------------------------------


@dataclass
class Address:
    city: str
    zip: str | None = None


@dataclass
class User:
    name: str
    age: int
    address: Address
    tags: list[str] = field(default_factory=list)
    kind: Literal["admin", "user"] = "user"


class Point(TypedDict):
    x: float
    y: float


class Shape(TypedDict, total=False):
    points: list[Point]
    label: str


def convert(tp: Any, payload: Any) -> Any:
    conv = build_converter(tp, globals())
    assert conv is not None
    return conv(payload)


def test_dataclass_payload_is_built_recursively():
    user = convert(User, {"name": "Ada", "age": 36, "address": {"city": "London"},
                          "tags": ["x"], "ignored": True})
    assert user == User("Ada", 36, Address("London"), ["x"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"age": 1, "address": {"city": "x"}}, "payload field 'name': missing (required by User)"),
        ({"name": "A", "age": "36", "address": {"city": "x"}},
         "payload field 'age': expected an integer, got str '36'"),
        ({"name": "A", "age": 1, "address": {"zip": "1"}},
         "payload field 'address.city': missing (required by Address)"),
        ({"name": "A", "age": 1, "address": {"city": "x"}, "tags": ["a", 2]},
         "payload field 'tags[1]': expected a string, got int 2"),
        ({"name": "A", "age": 1, "address": {"city": "x"}, "kind": "root"},
         "payload field 'kind': expected one of ['admin', 'user'], got 'root'"),
        ([1, 2], "payload: expected an object for User, got list [1, 2]"),
    ],
)
def test_dataclass_errors_name_the_field(payload, message):
    with pytest.raises(PayloadError) as info:
        convert(User, payload)
    assert str(info.value) == message


def test_typeddict_payload_is_checked():
    shape = convert(Shape, {"points": [{"x": 1, "y": 2.5}], "label": "l"})
    assert shape == {"points": [{"x": 1.0, "y": 2.5}], "label": "l"}
    with pytest.raises(PayloadError, match=r"payload field 'points\[0\]\.y': missing"):
        convert(Shape, {"points": [{"x": 1}]})


def test_plain_annotations_need_no_conversion():
    for tp in (dict, list, Any, dict[str, Any], int, str):
        assert build_converter(tp, {}) is None
