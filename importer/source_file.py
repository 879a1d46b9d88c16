"""Load ``path/to/model.py:ClassName`` and construct it. This RUNS the user's Python file: only for the command
line and a one-person app on the user's own machine, never for a shared (classroom) server.

A file inside a package (its folder has an ``__init__.py``) is imported as part of that package, so relative
imports (``from .unet_parts import *``) and absolute ones from the package root work as when the user runs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from importer.config_args import build_kwargs
from importer.report import ImportFailure


def parse_reference(ref: str) -> tuple[Path, str]:
    """'models/net.py:ResNet' → (Path('models/net.py'), 'ResNet')."""
    path, sep, name = ref.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise ImportFailure("a model reference", ref, "expected FILE.py:ClassName", "e.g. models/net.py:ResNet")
    return Path(path), name


def construct(ref: str, args_json: str | None = None) -> Any:
    """The module instance ``ClassName(**args)`` from the file; every failure an ImportFailure. ``ClassName`` may
    also be a function that builds the model (torchvision's ``resnet18``)."""
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
    module = load_file(path)
    cls = getattr(module, name, None)
    if cls is None:
        raise ImportFailure("a model class", f"{path.name}", f"the file defines no {name}", "check the class name")
    args, kwargs = build_kwargs(cls, module, kwargs)  # a config object (dataclass, CfgNode) built from the keys
    try:
        return cls(*args, **kwargs)
    except Exception as err:
        raise ImportFailure(f"constructing {name}", path.name, f"{type(err).__name__}: {err}",
                            "check --args (the constructor's keyword arguments)") from None


def load_file(path: Path) -> Any:
    """The module of ``path``: a package's module by its dotted name, a lone file under a name of its own."""
    root, dotted = _package_of(path.resolve())
    if dotted:
        return _load_in_package(path, root, dotted)
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


def _package_of(path: Path) -> tuple[Path, str]:
    """(the folder above the outermost package, 'pkg.sub.module') for a file inside a package, else (parent, '')."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1 or not all(p.isidentifier() for p in parts):
        return path.parent, ""
    return folder, ".".join(parts)


def _load_in_package(path: Path, root: Path, dotted: str) -> Any:
    top = dotted.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is not None and not _inside(loaded, root / top):
        raise ImportFailure("loading the model file", path.name,
                            f"{path.name} is part of the package {top!r}, but another package of that name is "
                            f"already loaded (from {getattr(loaded, '__file__', '?')})",
                            "rename the package folder, or import the model from the command line "
                            "(layerlab import) in a fresh process")
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(dotted)
    except ImportFailure:
        raise
    except Exception as err:
        raise ImportFailure("loading the model file", path.name, f"{type(err).__name__}: {err}",
                            f"run `python -c 'import {dotted}'` in {root} first to see the error") from None
    finally:
        sys.path.remove(str(root))


def _inside(module: Any, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and Path(file).resolve().parent == folder.resolve()
