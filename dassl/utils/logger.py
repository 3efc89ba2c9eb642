"""Tee everything printed to stdout into the run's log.txt (stderr, e.g. progress bars, stays off it)."""
import os
import os.path as osp
import sys
import time
from typing import Optional, TextIO

from .tools import mkdir_if_missing


class Logger:
    """A stdout replacement writing to the console and to a file.

    An existing file is appended to, never truncated: a resumed or repeated run keeps the earlier
    lines above its own, so log parsers keep reading one ``log.txt`` per output folder. The file is
    line-buffered, so a killed run loses no finished line.
    """

    def __init__(self, fpath: str) -> None:
        self.console: TextIO = sys.stdout
        mkdir_if_missing(osp.dirname(osp.abspath(fpath)))
        self.appending = osp.isfile(fpath) and osp.getsize(fpath) > 0
        self.file: TextIO = open(fpath, "a", buffering=1)
        if self.appending:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self.file.write(f"\n===== {stamp}: a new process appends to this log =====\n")

    def write(self, msg: str) -> None:
        self.console.write(msg)
        self.file.write(msg)

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()
        os.fsync(self.file.fileno())

    def isatty(self) -> bool:
        return self.console.isatty()

    def __getattr__(self, name: str) -> object:
        """Anything else (encoding, fileno, ...) is the console's, as code expecting a real stdout needs."""
        if name == "console":
            raise AttributeError(name)
        return getattr(self.console, name)

    def close(self) -> None:
        """Close the log file and hand stdout back to the console if this logger owns it."""
        if sys.stdout is self:
            sys.stdout = self.console
        if not self.file.closed:
            self.file.close()


def setup_logger(output: Optional[str] = None) -> Optional[Logger]:
    """Tee stdout to ``output/log.txt`` (or to ``output`` itself if it ends in .txt/.log).

    Unlike the reference Dassl (which starts a time-stamped file next to an existing log.txt),
    an existing log is appended to. Returns the logger (None when ``output`` is None).
    """
    if output is None:
        return None
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if isinstance(sys.stdout, Logger):
        sys.stdout.close()
    logger = Logger(fpath)
    sys.stdout = logger
    return logger
