"""Load ``path/to/model.py:ClassName`` and construct it. This RUNS the user's Python file: only for the command
line and a one-person app on the user's own machine, never for a shared (classroom) server."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from importer.report import ImportFailure


def parse_reference(ref: str) -> tuple[Path, str]:
    """'models/net.py:ResNet' → (Path('models/net.py'), 'ResNet')."""
    path, sep, name = ref.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise ImportFailure("a model reference", ref, "expected FILE.py:ClassName", "e.g. models/net.py:ResNet")
    return Path(path), name


def construct(ref: str, args_json: str | None = None) -> Any:
    """The module instance ``ClassName(**args)`` from the file; every failure an ImportFailure."""
    path, name = parse_reference(ref)
    if not path.is_file():
        raise ImportFailure("a model file", str(path), "no such file", "check the path")
    try:
        kwargs = json.loads(args_json) if args_json else {}
    except json.JSONDecodeError as err:
        raise ImportFailure("--args", args_json or "", f"not JSON ({err.msg})", 'e.g. --args \'{"classes": 10}\'') from None
    if not isinstance(kwargs, dict):
        raise ImportFailure("--args", args_json or "", "must be a JSON object of keyword arguments",
                            'e.g. --args \'{"classes": 10}\'')
    module = _load(path)
    cls = getattr(module, name, None)
    if cls is None:
        raise ImportFailure("a model class", f"{path.name}", f"the file defines no {name}", "check the class name")
    try:
        return cls(**kwargs)
    except Exception as err:
        raise ImportFailure(f"constructing {name}", path.name, f"{type(err).__name__}: {err}",
                            "check --args (the constructor's keyword arguments)") from None


def _load(path: Path) -> Any:
    name = f"layerlab_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))  # the model may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise ImportFailure("loading the model file", path.name, f"{type(err).__name__}: {err}",
                            "run the file with python first to see the error") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module
