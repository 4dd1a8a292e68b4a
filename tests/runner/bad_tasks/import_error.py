from gw_runner import task

import no_such_module_for_gw_tests  # noqa: F401


@task
def fine(payload, ctx):
    pass
