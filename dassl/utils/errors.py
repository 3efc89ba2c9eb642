"""Errors the framework raises on purpose, and how a command line reports them.

Each message names the problem and the fix, so the command line prints it as one block and exits
non-zero, without a traceback (``--debug`` or ``MMA_DEBUG=1`` shows it). Subclasses also derive from
the built-in type that fits (``ValueError``, ``FileNotFoundError``, ...) so callers can catch either.
"""
import argparse
import os
import sys
from typing import Any, Callable, NoReturn

DEBUG_ENV = "MMA_DEBUG"
DEBUG_FLAG = "--debug"
EXIT_USER_ERROR = 1
# torch re-raises a worker's exception with the worker's formatted traceback in the message.
WORKER_TRACEBACK = "Original Traceback (most recent call last):"


class FrameworkError(Exception):
    """A problem with the user's input, files or environment, explained in the message."""

    def __str__(self) -> str:
        # KeyError would quote the message; every subclass prints it as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigValueError(FrameworkError, ValueError):
    """A config value (yaml, override or flag) that cannot work; the message names the key."""


class ConfigKeyError(FrameworkError, KeyError):
    """A config key or registered name that does not exist; the message suggests the closest one."""


class ConfigOverrideError(FrameworkError, AssertionError):
    """A KEY VALUE override on the command line that yacs refuses (it raises AssertionError)."""


class InputFileNotFoundError(FrameworkError, FileNotFoundError):
    """A file or folder the user named (config, checkpoint, image, output) does not exist."""


class ConfigTypeError(FrameworkError, TypeError):
    """A config value of the wrong type for the key (e.g. a number where a list is needed)."""


class UnreadableFileError(FrameworkError, OSError):
    """A file exists but cannot be opened or decoded (a broken image)."""


class CorruptFileError(FrameworkError, ValueError):
    """A file opens but its content is not what it should be (split, annotation, result, weights)."""


class CheckpointMismatchError(FrameworkError, ValueError):
    """A checkpoint that does not fit the model the config builds."""


class MissingDependencyError(FrameworkError, FileNotFoundError):
    """A package or program the run needs is not installed; the message says how to install it."""


class EmptySplitError(FrameworkError, AssertionError):
    """A dataset split has no items, so no loader can be built from it."""


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Give a command line the --debug flag that ``run_cli`` honours."""
    parser.add_argument(
        DEBUG_FLAG, action="store_true",
        help=f"on an error, show the full Python traceback (also {DEBUG_ENV}=1)",
    )


def debugging() -> bool:
    """True when the user asked for tracebacks: --debug anywhere on the command line, or MMA_DEBUG set."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0") or DEBUG_FLAG in sys.argv[1:]


def error_block(error: FrameworkError) -> str:
    """The text printed for a deliberate error: its message, then how to see the traceback."""
    message = str(error)
    if WORKER_TRACEBACK in message:  # re-raised from a DataLoader worker: keep the worker's own message
        message = message.rsplit(f"{type(error).__name__}: ", 1)[-1].rstrip()
    return (
        f"error: {message}\n"
        f"({type(error).__name__}; run again with {DEBUG_FLAG} or {DEBUG_ENV}=1 to see the traceback)"
    )


def run_cli(main: Callable[[], Any]) -> NoReturn:
    """Run a command line's ``main()`` and exit with its status; a FrameworkError prints as one
    block on stderr and exits 1, other errors keep their traceback."""
    try:
        status = main()
    except FrameworkError as error:
        if debugging():
            raise
        sys.stdout.flush()
        print(error_block(error), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(status if isinstance(status, int) else 0)
