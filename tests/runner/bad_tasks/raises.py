from gw_runner import task


@task
def fine(payload, ctx):
    pass


CONFIG = {}["missing"]
