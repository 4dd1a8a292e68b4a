import no_such_module_for_gw_tests  # noqa: F401

from gw_runner import task


@task
def fine(payload, ctx):
    pass
