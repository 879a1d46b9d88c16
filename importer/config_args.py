"""Turn ``--args`` JSON into a constructor call when the constructor takes a config object, not plain keywords.

nanoGPT's ``GPT(config)`` wants a ``GPTConfig`` dataclass; minGPT's ``GPT(config)`` a ``CfgNode`` from
``GPT.get_default_config()``. ``--args '{"n_layer": 2, ...}'`` names the config's fields, so when the keys are not
the constructor's own parameters and it takes exactly one (a config), the object is built from the keys: from the
class's ``get_default_config()`` (keys set on its result), or from the one dataclass in the model's file whose
fields take every key. ``{"config": {...}}`` works too. Anything else is left to the constructor to refuse.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from importer.report import ImportFailure


def build_kwargs(cls: Any, module: Any, kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(positional, keyword) arguments for ``cls`` from the ``--args`` object ``kwargs``."""
    try:
        params = [p for p in inspect.signature(cls).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        return (), kwargs
    names = {p.name for p in params}
    if len(params) == 1 and isinstance(kwargs.get(params[0].name), dict) and len(kwargs) == 1:
        fields = kwargs[params[0].name]  # {"config": {...}}
    elif len(params) == 1 and kwargs and not set(kwargs) & names and not _takes_var_keywords(cls):
        fields = kwargs
    else:
        return (), kwargs
    return (_config(cls, module, params[0], fields),), {}


def _takes_var_keywords(cls: Any) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())


def _config(cls: Any, module: Any, param: inspect.Parameter, fields: dict[str, Any]) -> Any:
    name = getattr(cls, "__name__", "the model")
    default = getattr(cls, "get_default_config", None)
    if callable(default):  # minGPT: C = GPT.get_default_config(); C.n_layer = ...
        try:
            config = default()
        except Exception as err:  # noqa: BLE001 — the user's code: its error in words
            raise ImportFailure("--args", f"{name}.get_default_config()", f"{type(err).__name__}: {err}",
                                "check that the class builds its default config") from None
        for key, value in fields.items():
            setattr(config, key, value)
        return config
    annotation = param.annotation if dataclasses.is_dataclass(param.annotation) else None
    candidates = [annotation] if annotation else [
        value for value in vars(module).values()
        if isinstance(value, type) and dataclasses.is_dataclass(value)
        and getattr(value, "__module__", None) == module.__name__]
    fitting = [dc for dc in candidates if set(fields) <= {f.name for f in dataclasses.fields(dc)}]
    if len(fitting) != 1:
        found = ", ".join(sorted(dc.__name__ for dc in candidates)) or "none"
        raise ImportFailure(
            "--args", ", ".join(sorted(fields)),
            f"{name}({param.name}) takes one config object, and the keys are not its parameters; "
            f"{'no' if not fitting else 'more than one'} config class in the file takes them all "
            f"(dataclasses there: {found})",
            f"give the config's fields, e.g. --args '{{\"{param.name}\": {{...}}}}' with the fields of one dataclass")
    try:
        return fitting[0](**fields)
    except Exception as err:  # noqa: BLE001 — a dataclass's __post_init__ may check the values
        raise ImportFailure("--args", fitting[0].__name__, f"{type(err).__name__}: {err}",
                            "check the config's values") from None
