"""Handlers that touch no table of their own: the runner role needs no rights beyond its level."""

from gw_runner import task


@task
async def ok(payload, ctx):  # type: ignore[no-untyped-def]
    return None


@task
def boom(payload, ctx):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom as the runner role")
