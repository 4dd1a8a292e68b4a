from gw_runner import task


@task("send_email")
def send_email_v1(payload, ctx):
    pass


@task("send_email")
async def send_email_v2(payload, ctx):
    pass
