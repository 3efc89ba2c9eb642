"""The version of the code a run used, recorded with its results."""
from __future__ import annotations

import os.path as osp
import subprocess
from functools import lru_cache

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@lru_cache(maxsize=None)
def code_version() -> str:
    """The git commit of the checkout (with ``-dirty`` when files differ from it), else ``unknown``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", REPO_ROOT, *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
