"""yacs's CfgNode with config errors that say where the bad key came from and how to fix it.

Our node is a subclass of yacs's, while CoOp-family train.py files attach plain yacs nodes
(``cfg.TRAINER.COCOOP = CN()``). yacs merges a child node only into a node of the very same class,
so :meth:`CfgNode.merge_from_other_cfg` first gives the incoming tree the node classes of the tree it
merges into (and keeps them while merging): a yaml then merges into either kind of node, and
freeze / dump / clone work on both.
"""
import os
from typing import Any, List

from yacs.config import CfgNode as _YacsNode

from dassl.utils.errors import FrameworkError
from dassl.utils.tools import get_most_similar_str_to_a_from_b
from dassl.utils.errors import ConfigKeyError, ConfigOverrideError, ConfigValueError

TRUST_PY_CONFIG_ENV = "MMA_TRUST_PY_CONFIG"

_UNKNOWN_FILE_KEY = "Non-existent config key: "
_UNKNOWN_LIST_KEY = "Non-existent key: "


def _full_keys(node: _YacsNode, prefix: str = "") -> List[str]:
    keys = []
    for name, value in node.items():
        full = f"{prefix}{name}"
        keys.append(full)
        if isinstance(value, _YacsNode):
            keys.extend(_full_keys(value, full + "."))
    return keys


class PythonConfigRefusedError(FrameworkError, ValueError):
    """A ``.py`` config file would be executed; that needs the user's explicit permission."""


def python_configs_trusted() -> bool:
    """True when the user allowed ``.py`` config files (``MMA_TRUST_PY_CONFIG=1``)."""
    return os.environ.get(TRUST_PY_CONFIG_ENV, "") not in ("", "0")


def refuse_python_config(cfg_filename: str) -> None:
    """yacs runs a ``.py`` config as code: refuse it unless the user trusts it."""
    if os.path.splitext(str(cfg_filename))[1] == ".py" and not python_configs_trusted():
        raise PythonConfigRefusedError(
            f'Refused to read the config file "{cfg_filename}": a .py config is Python code and reading it runs '
            f"it. Use a .yaml config (yaml files are only parsed), or, if you trust this file, set "
            f"{TRUST_PY_CONFIG_ENV}=1."
        )


def _with_node_classes_of(incoming: _YacsNode, target: _YacsNode) -> _YacsNode:
    """A copy of ``incoming`` whose child nodes have the class of ``target``'s node at the same key."""
    copy = type(target)()
    for key, value in incoming.items():
        existing = target.get(key)
        if isinstance(value, _YacsNode) and isinstance(existing, _YacsNode):
            value = _with_node_classes_of(value, existing)
        dict.__setitem__(copy, key, value)
    return copy


class CfgNode(_YacsNode):
    """Behaves exactly like yacs's node (same exception types); only the messages are clearer, and
    plain yacs nodes attached by user code merge like our own."""

    def merge_from_other_cfg(self, cfg_other: _YacsNode) -> None:
        super().merge_from_other_cfg(_with_node_classes_of(cfg_other, self))

    @classmethod
    def _decode_cfg_value(cls, value: Any) -> Any:
        """yacs rebuilds every incoming node in the parent's class; a node keeps its own here."""
        if isinstance(value, _YacsNode):
            return value
        return super()._decode_cfg_value(value)

    def _unknown_key_hint(self, key: str) -> str:
        closest = get_most_similar_str_to_a_from_b(key, _full_keys(self))
        return (
            f" (did you mean {closest}? A key must exist in the defaults or be added by a trainer's "
            "or dataset module's extend_cfg)"
        )

    def merge_from_file(self, cfg_filename: str) -> None:
        refuse_python_config(cfg_filename)
        try:
            super().merge_from_file(cfg_filename)
        except KeyError as e:
            msg = str(e.args[0]) if e.args else ""
            if not msg.startswith(_UNKNOWN_FILE_KEY):
                raise
            key = msg[len(_UNKNOWN_FILE_KEY):]
            raise ConfigKeyError(f"{msg} in {cfg_filename}{self._unknown_key_hint(key)}") from None
        except ValueError as e:
            msg = str(e.args[0]) if e.args else ""
            if not msg.startswith("Type mismatch"):
                raise
            raise ConfigValueError(f"{msg} in {cfg_filename} (the value must have the default's type)") from None

    def merge_from_list(self, cfg_list: List[Any]) -> None:
        try:
            super().merge_from_list(cfg_list)
        except AssertionError as e:
            msg = str(e.args[0]) if e.args else ""
            if not msg.startswith(_UNKNOWN_LIST_KEY):
                raise
            key = msg[len(_UNKNOWN_LIST_KEY):]
            raise ConfigOverrideError(f"{msg} in the command-line opts{self._unknown_key_hint(key)}") from None
        except ValueError as e:
            msg = str(e.args[0]) if e.args else ""
            if not msg.startswith("Type mismatch"):
                raise
            raise ConfigValueError(f"{msg} in the command-line opts (the value must have the default's type)") from None
