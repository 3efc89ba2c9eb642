"""Errors the framework raises on purpose.

Each message names the problem and the fix, so the command line prints it as one block and exits
non-zero, without a traceback (``--debug`` or ``MMA_DEBUG=1`` shows it). Subclasses also derive from
the built-in type that fits (``ValueError``, ``FileNotFoundError``, ...) so callers can catch either.
"""


class FrameworkError(Exception):
    """A problem with the user's input, files or environment, explained in the message."""
