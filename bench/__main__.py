"""`python -m bench` is the same as the `bench` console script (handy for `accelerate launch -m bench`)."""

from bench.cli import main

main()
