"""The start-of-run record: what defines a run, written into its output folder before anything else.

``config.yaml`` is the merged config (``cfg.dump()``), so tools can rebuild the run's settings from
a model folder. ``run.json`` holds the command, its overrides, the code version, the run's
*identity* (the merged config minus the keys that cannot change the result) and a fingerprint of
the data split. A later command on the same folder is compared with it: the same identity resumes,
a different one is refused before anything in the folder changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from dassl.utils import atomic_path, read_json, write_json
from dassl.utils.code_version import code_version
from dassl.utils.errors import FrameworkError

from dassl.utils.result_neutral import RESULT_NEUTRAL_KEYS

CONFIG_RECORD = "config.yaml"
RUN_RECORD = "run.json"

class RunMismatchError(FrameworkError, RuntimeError):
    """The output folder holds a different run than the one the command asks for."""


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"A.B.C": value}`` for every leaf, with tuples as lists so the result is plain JSON."""
    flat: Dict[str, Any] = {}
    for key in sorted(cfg):
        value = cfg[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = json.loads(json.dumps(value))
    return flat


def is_result_neutral(key: str) -> bool:
    """True for a config key that cannot change a run's numbers (worker counts, paths, print frequency)."""
    return key in RESULT_NEUTRAL_KEYS


def run_identity(cfg: Mapping[str, Any], mode: str, extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """What defines a run: its mode (train / eval), the result-changing config keys and ``extra``."""
    identity = {"mode": mode}
    identity.update({k: v for k, v in flatten_config(cfg).items() if not is_result_neutral(k)})
    identity.update(extra or {})
    return identity


def identity_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """``KEY: old -> new`` lines for every key whose value differs or exists on one side only."""
    missing = "<absent>"
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines


def split_fingerprint(root: str, splits: Mapping[str, Optional[Iterable[Any]]]) -> str:
    """A SHA-256 over each split's (path relative to ``root``, label, class name), in order.

    Relative paths make a copied data root give the same fingerprint; a changed split does not.
    """
    digest = hashlib.sha256()
    root = osp.abspath(root) if root else ""
    for name in sorted(splits):
        items = splits[name] or []
        digest.update(f"[{name}]".encode())
        for item in items:
            path = osp.abspath(item.impath)
            if root and path.startswith(root + os.sep):
                path = osp.relpath(path, root)
            digest.update(f"{path}\t{item.label}\t{item.classname}\n".encode())
    return digest.hexdigest()


def read_run_record(folder: str) -> Optional[Dict[str, Any]]:
    """The folder's ``run.json``, or None when it has none."""
    fpath = osp.join(folder, RUN_RECORD)
    if not osp.isfile(fpath):
        return None
    try:
        return read_json(fpath)
    except ValueError as e:
        raise RunMismatchError(
            f'The run record "{fpath}" is not valid JSON ({e}). It was damaged outside the framework: '
            "move the folder aside and start the run again, or use another --output-dir."
        ) from None


def check_same_run(folder: str, identity: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Return the folder's record when it describes the same run; raise when it describes another."""
    record = read_run_record(folder)
    if record is None:
        return None
    differences = identity_differences(record.get("identity", {}), identity)
    if differences:
        shown = "\n".join(f"  {line}" for line in differences)
        raise RunMismatchError(
            f'The output folder "{folder}" holds another run (recorded in {RUN_RECORD}); it was started with\n'
            f"  {' '.join(record.get('command', []))}\n"
            f"and this command differs in:\n{shown}\n"
            "Nothing was changed. Either give this run its own folder (--output-dir), or pass --overwrite "
            "to move the old run aside (it is archived next to the folder) and start afresh."
        )
    return record


def archive_run(folder: str, keep: Sequence[str] = ()) -> Optional[str]:
    """Move the folder's contents (except ``keep``) to ``<folder>.archived-<time>``; return that path."""
    names = [name for name in os.listdir(folder) if name not in keep] if osp.isdir(folder) else []
    if not names:
        return None
    target = f"{osp.normpath(folder)}.archived-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 1
    while osp.exists(target):
        suffix += 1
        target = f"{osp.normpath(folder)}.archived-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    os.makedirs(target)
    for name in names:
        shutil.move(osp.join(folder, name), osp.join(target, name))
    return target


def write_run_record(
    folder: str,
    cfg: Any,
    command: Sequence[str],
    overrides: Sequence[str],
    identity: Mapping[str, Any],
    split: Optional[str] = None,
) -> str:
    """Atomically write ``config.yaml`` and ``run.json``; return the path of ``run.json``."""
    with atomic_path(osp.join(folder, CONFIG_RECORD)) as tmp:
        with open(tmp, "w") as f:
            f.write(cfg.dump())
    record = {
        "command": list(command),
        "overrides": list(overrides),
        "code_version": code_version(),
        "identity": dict(identity),
        "split_fingerprint": split,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    fpath = osp.join(folder, RUN_RECORD)
    write_json(record, fpath)
    return fpath


def record_split_fingerprint(folder: str, fingerprint: str) -> None:
    """Add the split's fingerprint to ``run.json``; refuse when the folder's run used another split."""
    fpath = osp.join(folder, RUN_RECORD)
    record = read_run_record(folder)
    if record is None:
        return
    recorded = record.get("split_fingerprint")
    if recorded and recorded != fingerprint:
        raise RunMismatchError(
            f'The data split differs from the one the run in "{folder}" used (fingerprint {recorded[:12]} in '
            f"{RUN_RECORD}, now {fingerprint[:12]}): the images, labels or class names under DATASET.ROOT "
            "changed, or the few-shot split file was rebuilt. Nothing was trained. Restore that data, give "
            "this run its own folder (--output-dir), or pass --overwrite to archive the old run."
        )
    if recorded != fingerprint:
        record["split_fingerprint"] = fingerprint
        write_json(record, fpath)
