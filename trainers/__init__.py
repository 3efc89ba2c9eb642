"""Every method of the framework, one module per method.

Importing this package imports each method module (``kit`` holds the shared building blocks) so that its trainer registers itself in
``dassl.engine.TRAINER_REGISTRY``. A module may define ``extend_cfg(cfg)`` to add its own
``TRAINER.<NAME>`` config node; :func:`extend_cfg` calls all of them.
"""
import importlib
import pkgutil

from .kit.backbone import extend_cfg as extend_backbone_cfg

_MODULES = [
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    if not info.name.startswith("_") and info.name != "kit"
]


def extend_cfg(cfg) -> None:
    """Add the config node of every trainer (each module's own ``extend_cfg``) and the backbone's keys."""
    extend_backbone_cfg(cfg)
    for module in _MODULES:
        hook = getattr(module, "extend_cfg", None)
        if hook is not None:
            hook(cfg)
