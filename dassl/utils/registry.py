"""Name -> class registries, filled at import time by decorators (trainers, datasets, evaluators)."""
from typing import Any, Callable, Dict, List, Optional

from dassl.utils.errors import ConfigKeyError


class Registry:
    """Maps an object's ``__name__`` to the object, so configs can name classes by string."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._obj_map: Dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any, force: bool = False) -> None:
        if name in self._obj_map and not force:
            raise KeyError(f'An object named "{name}" was already registered in "{self._name}" registry')
        self._obj_map[name] = obj

    def register(self, obj: Any = None, force: bool = False) -> Optional[Callable[[Any], Any]]:
        """Register ``obj`` directly, or return a decorator when called without it."""
        if obj is None:

            def wrapper(fn_or_class: Any) -> Any:
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return None

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise ConfigKeyError(f'Object name "{name}" does not exist in "{self._name}" registry')
        return self._obj_map[name]

    def registered_names(self) -> List[str]:
        return list(self._obj_map.keys())

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map
