from gw_runner import task


@task
def tick():
    pass
