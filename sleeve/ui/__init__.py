"""The top floor: the `sleeve` command, the app, the review loop, the demo and the CLIs that
present the lower floors (catalog, predict)."""
