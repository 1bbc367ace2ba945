"""Test-wide settings: no network, one CPU thread (fast and deterministic on small tensors), offline hubs."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on a busy 2-core machine: OpenMP threads spin-waiting on each other make small ops up to 100x
# slower, so tests (and the subprocesses they start, which inherit this) use one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
