"""Stopping a training run safely on SIGTERM (what Slurm sends before pre-emption) or Ctrl-C.

The handlers only note the request; the training loop finishes the current step, writes a resumable
state and raises ``TrainingStopped``. The command line turns that into exit code
``STOPPED_EXIT_CODE`` with the command that continues the run. A second Ctrl-C stops at once.
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any, Dict, Optional

# EX_TEMPFAIL of sysexits.h: the run was stopped on request and can continue with the same command.
STOPPED_EXIT_CODE = 75


class TrainingStopped(Exception):
    """Training stopped on a signal after saving its state; not an error of the run."""

    def __init__(self, signal_name: str, where: str, state_path: str) -> None:
        self.signal_name = signal_name
        self.where = where
        self.state_path = state_path
        super().__init__(f"Stopped by {signal_name} {where}; the state is saved in {state_path}")


class StopRequest:
    """Notes SIGTERM / SIGINT while installed; ``requested`` names the first signal received."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def install(self) -> "StopRequest":
        """Handle the signals from now on (only the main thread can; elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = self.requested or name
        print(
            f"\n{name} received: finishing the current step, then saving a resumable state and stopping "
            "(press Ctrl-C again to quit at once without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> "StopRequest":
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.restore()
