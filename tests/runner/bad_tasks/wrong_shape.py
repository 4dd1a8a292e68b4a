from gw_runner import task


@task
def send_email(payload, ctx, extra):
    pass
