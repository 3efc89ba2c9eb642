"""The project's import graph: private (``_``-prefixed) modules and names stay inside their package,
and no test module imports another test module (shared test code lives in ``tests/*_helpers.py``)."""
import ast
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = {"clip", "dassl", "datasets", "trainers", "tools", "tests", "train", "parse_test_res"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def imports(path: Path) -> Iterator[Tuple[int, str, Optional[str]]]:
    """``(line, module, name)`` for every import of ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package_of(path).split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(filter(None, [*anchor, base]))
            for alias in node.names:
                yield node.lineno, base, alias.name


def private_owner(module: str, name: Optional[str]) -> Optional[str]:
    """The package a private module or name of ``module`` belongs to, or None if all is public."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:i])
    if name is not None and is_private(name):
        return module.rpartition(".")[0] if module.rpartition(".")[2] != "" else module
    return None


def project_files() -> List[Path]:
    """The project's Python files: its packages, scripts/ and the top-level modules."""
    files = [REPO_ROOT / f"{name}.py" for name in ("train", "parse_test_res")]
    for folder in sorted(PROJECT_PACKAGES | {"scripts"}):
        files.extend((REPO_ROOT / folder).rglob("*.py"))
    return sorted(p for p in files if p.is_file())


def test_private_names_stay_in_their_package():
    crossings = []
    for path in project_files():
        importer = module_name(path)
        for line, module, name in imports(path):
            if module.split(".")[0] not in PROJECT_PACKAGES:
                continue
            owner = private_owner(module, name)
            if owner is not None and not (importer == owner or importer.startswith(owner + ".")):
                shown = f"{module}.{name}" if name else module
                crossings.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {shown}")
    assert not crossings, "private names imported across packages:\n" + "\n".join(crossings)


def test_no_test_module_imports_another():
    found = []
    for path in sorted((REPO_ROOT / "tests").glob("*.py")):
        for line, module, name in imports(path):
            target = module.rpartition(".")[2] if module.startswith("tests.") else module
            if target.startswith("test_") or (module == "tests" and (name or "").startswith("test_")):
                found.append(f"{path.name}:{line} imports {module}{'.' + name if name else ''}")
    assert not found, "\n".join(found)


def test_the_checker_sees_a_crossing(tmp_path):
    """The rule applied to hand-made cases, so the checks above cannot pass vacuously."""
    assert private_owner("datasets._reader", "CoOpDataset") == "datasets"
    assert private_owner("dassl.config.defaults", "_C") == "dassl.config"
    assert private_owner("trainers.kit.training", "LearnerTrainer") is None
    assert private_owner("__future__", "annotations") is None


def test_core_data_code_reads_no_study_key():
    """The study options are read by the study layer only (datasets/study.py and its rules)."""
    from datasets.study import DATASET_DEFAULTS, INPUT_DEFAULTS

    keys = set(DATASET_DEFAULTS) | set(INPUT_DEFAULTS)
    core = [*(REPO_ROOT / "dassl").rglob("*.py"), *(REPO_ROOT / "datasets").glob("*.py")]
    readers = [p for p in core if p.name not in ("study.py", "study_rules.py")]
    found = [f"{p.relative_to(REPO_ROOT)}: {key}" for p in readers for key in keys if key in p.read_text()]
    assert len(readers) > 20 and not found, found
