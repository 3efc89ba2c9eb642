"""The kit's documented public API (trainers/kit/__init__.py) names only what exists."""
import importlib
import re

import trainers.kit


def documented_api():
    """``{module: [names]}`` from the docstring's ``- ``module``: ``name``, ...`` entries."""
    api = {}
    for entry in re.split(r"\n- ", trainers.kit.__doc__)[1:]:
        module, _, rest = entry.partition(":")
        names_part = re.sub(r"\([^)]*\)", "", rest).split(":")[0]  # descriptions follow a colon or sit in ()
        api[module.strip("` ")] = re.findall(r"``(\w+)``", names_part)
    return api


def test_every_documented_name_exists():
    api = documented_api()
    assert {"backbone", "training", "checkpoints", "text_prefix", "precision"} <= set(api)
    for module, names in api.items():
        imported = importlib.import_module(f"trainers.kit.{module}")
        assert names, module
        for name in names:
            assert not name.startswith("_") and hasattr(imported, name), f"trainers.kit.{module}.{name}"
