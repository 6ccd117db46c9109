"""scikit-learn's parameter protocol for when scikit-learn is not installed: parameters
are the constructor's arguments, stored under their own names (so ``clone`` and grid
searches work the same way once scikit-learn is there)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List


class ParamsMixin:
    @classmethod
    def _get_param_names(cls) -> List[str]:
        init = cls.__init__  # type: ignore[misc]
        if init is object.__init__:
            return []
        return sorted(
            p.name
            for p in inspect.signature(init).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any) -> "ParamsMixin":
        valid = self.get_params(deep=True)
        nested: Dict[str, Dict[str, Any]] = {}
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(self._get_param_names())!r}."
                )
            if delim:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = [
            f"{k}={v!r}" for k, v in self.get_params(deep=False).items()
            if not (k in defaults and defaults[k] is v or defaults.get(k, object()) == v)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"
