from gw_runner import task


@task
def broken(payload, ctx)
    pass
