"""The repository speaks of itself alone: no file refers to files outside it or to issue numbers of
its own tracker (the smoke run's output is checked in test_scripts_mmadapter.py)."""
import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from outside_references import outside_references

REPO_ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "output", "data", "smoke", "build", "dist"}


def repository_files() -> List[Path]:
    """The files a clone holds (git's list when there is one, else a walk without build folders)."""
    if (REPO_ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
        return [REPO_ROOT / name for name in listed.splitlines() if (REPO_ROOT / name).is_file()]
    files = []
    for folder, subfolders, names in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS and not name.endswith(".egg-info")]
        files += [Path(folder) / name for name in names]
    return files


def read_text(path: Path) -> str:
    data = path.read_bytes()
    return "" if b"\0" in data[:8192] else data.decode("utf-8", errors="replace")


def test_no_file_refers_outside_the_repository():
    problems = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {matched!r} ({why})"
        for path in repository_files() for line, matched, why in outside_references(read_text(path))
    ]
    assert not problems, "\n".join(problems)


# Phrases the check must refuse, assembled from parts so that this file itself never contains them.
SPEC, SHARED, ISSUE = "spe" + "c", "../" + "shared", "Issue"
CAUGHT = [
    f"Offline copies: see {SHARED}/{SPEC}s/mma.md",
    f"as {SPEC}s/mma_cvpr2024.md says",
    f"the reference ({ISSUE.lower()} {8}, H100) took 69 s",
    f"reference {ISSUE.lower()} #{3} reports 70.4",
    f"{ISSUE} {12}'s engineer",
    "numbers from datasets_and_baselines_fact" "s.md",
    f"the {SPEC}'s \u00a78 has the numbers",
    f"(our extensions, as the {SPEC} says)",
    "see DESIG" "N.md",
]


@pytest.mark.parametrize("text", CAUGHT)
def test_patterns_catch_outside_references(text):
    assert outside_references(text), text


@pytest.mark.parametrize("text", [
    "OpenAI's host answers 404 (openai/CLIP issue #516)",
    "the reference crashes (KaiyangZhou/Dassl.pytorch issue #56)",
    "a user's report in ZjjConan/Multi-Modal-Adapter's issue #3",
    "https://github.com/KaiyangZhou/CoOp/issues/34",
    "KaiyangZhou/CoOp#35 fixed the parser",
    "spec = importlib.util.find_spec('open_clip')",
    "this is a known issue: the cache is per user",
    "tests/golden/README.md says how each file was made",
    "the JPEG specification",
    "open_clip's own model for the spec (random init), with a logit scale of the spec's",
    "Multi-Modal-Adapter issue #3, https://github.com/ZjjConan/Multi-Modal-Adapter/issues/3",
    "seeds, PromptSRC issue #3,\n# https://github.com/muzairkhattak/PromptSRC/issues/3), any other",
])
def test_patterns_let_legitimate_text_through(text):
    assert outside_references(text) == []
