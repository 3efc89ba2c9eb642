"""One process per output folder: ``run.lock`` names the holder's PID and host.

The lock file is written whole and then hard-linked into place, so it is either absent or complete,
and two processes racing for it cannot both win. A lock left by a dead process of this host is taken
over with a note; a lock of another host is refused with the way to clear it by hand.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import socket
import time
from types import TracebackType
from typing import Any, Dict, Optional, Type

from dassl.utils import mkdir_if_missing
from dassl.utils.errors import FrameworkError

LOCK_FILE = "run.lock"


class OutputFolderLockedError(FrameworkError, RuntimeError):
    """Another live process is running in the same output folder."""


def process_alive(pid: int) -> bool:
    """True while process ``pid`` of this host exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fpath: str) -> Optional[Dict[str, Any]]:
    try:
        with open(fpath) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        return {}


class RunLock:
    """Hold ``<folder>/run.lock`` for the life of a run (use as a context manager)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.path = osp.join(folder, LOCK_FILE)
        self.held = False

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; raise when a live process holds it."""
        mkdir_if_missing(self.folder)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        tmp = osp.join(self.folder, f".{LOCK_FILE}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(me, f)
        try:
            while not self._link(tmp):
                holder = _read_holder(self.path)
                if holder is None:
                    continue
                self._take_over_if_stale(holder, me["host"])
        finally:
            os.remove(tmp)
        self.held = True

    def _link(self, tmp: str) -> bool:
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        return True

    def _take_over_if_stale(self, holder: Dict[str, Any], host: str) -> None:
        pid, holder_host = holder.get("pid"), holder.get("host")
        if isinstance(pid, int) and holder_host == host and pid != os.getpid() and not process_alive(pid):
            stale = f"{self.path}.stale-{os.getpid()}"
            try:
                os.rename(self.path, stale)
            except FileNotFoundError:
                return
            os.remove(stale)
            print(f"Note: took over the stale lock {self.path} of process {pid} on {holder_host}, which is no longer running")
            return
        who = f"process {pid} on host {holder_host}" if pid else "an unknown process (unreadable lock file)"
        raise OutputFolderLockedError(
            f'The output folder "{self.folder}" is in use by {who} (lock file {self.path}, taken '
            f"{holder.get('since', '?')}). Wait for it to finish or stop it, or use another --output-dir. "
            f"If that process is certainly gone (e.g. it ran on another machine), delete {self.path}."
        )

    def release(self) -> None:
        """Remove the lock if this process still holds it."""
        if not self.held:
            return
        holder = _read_holder(self.path)
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            os.remove(self.path)
        self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.release()
