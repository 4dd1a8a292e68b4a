"""A task file that forgot to mark its handlers."""


def send_email(payload, ctx):
    pass
