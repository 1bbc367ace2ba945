"""The one exception type for mistakes a user can fix.

A `UserError` is printed by the CLI as a single line (``error: ...``) with exit status 2; anything else is a
bug and keeps its traceback. Messages are one sentence: what is wrong and what to do.
"""


class UserError(Exception):
    """A mistake in the user's input (file, option, config value), reported as one line, exit status 2."""
