"""strokebench orchestration: CLI, configuration, the one training loop, budget meter, run dirs, reports."""

__version__ = "0.1.0"
