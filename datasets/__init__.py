"""The benchmark datasets in CoOp's folder layouts, one module per dataset.

Importing this package imports every module so that each dataset registers itself in
``dassl.data.datasets.DATASET_REGISTRY`` under its Dassl name (``OxfordPets``, ...).
"""
import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
