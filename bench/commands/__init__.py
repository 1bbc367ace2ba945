"""One module per CLI command; `bench/cli.py` registers them. Heavy imports happen inside the commands."""
