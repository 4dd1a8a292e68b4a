tasks = ["not", "handlers"]
