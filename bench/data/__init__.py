"""Data sources (``builtin:shapes``, ``builtin:photos``, ...) and the loader that turns them into batches."""
