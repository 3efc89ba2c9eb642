"""``get_cfg_default()``: a fresh copy of the default config tree (a yacs CfgNode)."""
from .defaults import _C
from .node import CfgNode


def get_cfg_default() -> CfgNode:
    """A deep copy of the defaults, safe to extend, merge and freeze."""
    return _C.clone()


__all__ = ["CfgNode", "get_cfg_default"]
