"""The benchmark datasets in CoOp's folder layouts, one module per dataset.

Importing this package imports every module so that each dataset registers itself in
``dassl.data.datasets.DATASET_REGISTRY`` under its Dassl name (``OxfordPets``, ...).
A module may define ``extend_cfg(cfg)`` to add data options; :func:`extend_cfg` calls them.
"""
import importlib
import pkgutil

_MODULES = [
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    if not info.name.startswith("_")
]


def extend_cfg(cfg) -> None:
    """Add the config keys that dataset-side modules declare."""
    for module in _MODULES:
        hook = getattr(module, "extend_cfg", None)
        if hook is not None:
            hook(cfg)
