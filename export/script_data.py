"""The app's own code, carried into an exported training script: one definition of each preparation, step
and metric, so the script trains on the same numbers in the same order as the app; and the run's data,
loaded as the app loads it.

``carry(*objects)`` copies the source of functions and classes (``inspect``-style, from their module's file)
together with every module-level definition they use, followed across LayerLab modules; imports of other
libraries become import lines. Nothing is rewritten: the copied text is the text that runs in the app. Only
code under ``data/`` and ``training/`` that imports torch, numpy, pandas, scikit-learn and the standard library
may be carried (``carry`` refuses anything else), so a script never needs LayerLab.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from builder.graph import Graph
from builder.validate import ValidationResult
from codegen.source import CodegenError

if TYPE_CHECKING:
    from training.config import TrainConfig

_OURS = ("builder", "codegen", "training", "data", "importer", "export", "cli", "ui")  # LayerLab's packages: followed, never imported
_ALLOWED_THIRD_PARTY = ("torch", "numpy", "pandas", "sklearn")


@dataclass(frozen=True)
class Carried:
    imports: tuple[str, ...]  # import lines, standard library first
    code: str  # the definitions, each after the ones it needs


@dataclass(frozen=True)
class _Definition:
    module: str
    names: tuple[str, ...]  # an assignment may bind several (PAD, BOS, UNK = 0, 1, 1)
    node: ast.stmt
    text: str


@dataclass(frozen=True)
class _Index:
    definitions: dict[str, _Definition]
    imports: dict[str, tuple[str, str, str | None]]  # local name -> (module, imported name or "", alias)


def carry(*objects: Any, select: Mapping[str, Collection[str]] | None = None) -> Carried:
    """The source of ``objects`` (functions or classes) and of everything module-level they use.

    ``select`` names tables (module-level dicts keyed by strings, e.g. ``ACCUMULATORS``) of which the run uses
    only some keys: those entries are carried, with what they use, and the others are left behind."""
    state = _State(dict(select or {}))
    for obj in objects:
        state.visit(obj.__module__, obj.__name__)
    return Carried(tuple(sorted_imports(state.imports)), "\n\n\n".join(state.texts) + "\n")


class _State:
    def __init__(self, select: dict[str, Collection[str]]) -> None:
        self.select = select
        self.done: set[tuple[str, str]] = set()
        self.texts: list[str] = []
        self.by_name: dict[str, str] = {}  # emitted name -> module (two different definitions can't share one)
        self.imports: set[str] = set()

    def visit(self, module: str, name: str) -> None:
        if (module, name) in self.done:
            return
        index = _index(module)
        if name not in index.definitions:
            raise CodegenError([f"cannot carry {module}.{name}: not a module-level definition"])
        definition = index.definitions[name]
        if name in self.select:
            definition = _selected(definition, self.select[name])
        self.done.update((module, n) for n in definition.names)
        used, annotations = _used_names(definition.node)
        for name in sorted(used - set(definition.names)):
            self._follow(module, index, name)
        for name in sorted(annotations - used):  # types only: their imports, never more code
            if name in index.imports and index.imports[name][0].split(".")[0] not in _OURS:
                self._follow(module, index, name)
        for n in definition.names:
            other = self.by_name.setdefault(n, module)
            if other != module:
                raise CodegenError([f"cannot carry {n!r} from both {other} and {module} into one script"])
        self.texts.append(definition.text)

    def _follow(self, module: str, index: _Index, name: str) -> None:
        if name in index.definitions:
            self.visit(module, name)
        elif name in index.imports:
            source, original, alias = index.imports[name]
            root = source.split(".")[0]
            if root in _OURS:
                self.visit(source, original or name)
            elif root == "__future__":
                return
            elif root not in _ALLOWED_THIRD_PARTY and root not in sys.stdlib_module_names:
                raise CodegenError([f"cannot carry code of {module} that needs {source!r} into a script"])
            elif original:
                self.imports.add(f"from {source} import {original}" + (f" as {alias}" if alias else ""))
            else:
                self.imports.add(f"import {source}" + (f" as {alias}" if alias else ""))


@cache
def _index(module_name: str) -> _Index:
    if module_name.split(".")[0] not in ("data", "training"):
        raise CodegenError([f"cannot carry code of {module_name}: only data/ and training/ code travels"])
    text = _source(module_name)
    tree = ast.parse(text)
    definitions: dict[str, _Definition] = {}
    imports: dict[str, tuple[str, str, str | None]] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = (alias.name, "", alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imports[alias.asname or alias.name] = (node.module, alias.name, alias.asname)
        else:
            names = _bound_names(node)
            if names:
                definition = _Definition(module_name, names, node, _segment(text, node))
                definitions.update(dict.fromkeys(names, definition))
    return _Index(definitions, imports)


def _selected(definition: _Definition, keys: Collection[str]) -> _Definition:
    """A table with only the entries for ``keys``, each entry's text as written."""
    node = definition.node
    table = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    if not isinstance(table, ast.Dict):
        raise CodegenError([f"cannot select from {definition.module}.{definition.names[0]}: not a dict literal"])
    kept = [(k, v) for k, v in zip(table.keys, table.values, strict=True)
            if isinstance(k, ast.Constant) and k.value in keys]
    missing = sorted(set(keys) - {k.value for k, _ in kept})
    if missing:
        raise CodegenError([f"{definition.module}.{definition.names[0]} has no entry {', '.join(map(repr, missing))}"])
    text = _source(definition.module)
    first = text.splitlines()[table.lineno - 1].encode()[:table.col_offset].decode()
    lines = [first.lstrip("\n") + "{"] if table.lineno == node.lineno else [definition.text.splitlines()[0]]
    lines += [f"    {ast.get_source_segment(text, k)}: {ast.get_source_segment(text, v)}," for k, v in kept] + ["}"]
    picked = ast.Dict(keys=[k for k, _ in kept], values=[v for _, v in kept])
    if isinstance(node, ast.AnnAssign):
        chosen: ast.stmt = ast.AnnAssign(target=node.target, annotation=node.annotation, value=picked, simple=1)
    else:
        chosen = ast.Assign(targets=node.targets, value=picked, lineno=node.lineno)
    return _Definition(definition.module, definition.names, chosen, "\n".join(lines))


@cache
def _source(module_name: str) -> str:
    return Path(_file(importlib.import_module(module_name))).read_text(encoding="utf-8")


def _file(module: ModuleType) -> str:
    path = getattr(module, "__file__", None)
    if not path:
        raise CodegenError([f"cannot carry code of {module.__name__}: it has no source file"])
    return path


def _bound_names(node: ast.stmt) -> tuple[str, ...]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, ast.Assign):
        return tuple(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return (node.target.id,)
    return ()


def _segment(text: str, node: ast.stmt) -> str:
    """The definition's lines, decorators included."""
    lines = text.splitlines()
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[first - 1 : node.end_lineno])


class _Names(ast.NodeVisitor):
    """Names a definition reads at run time, and the names its annotations mention (never evaluated: the
    script starts with ``from __future__ import annotations``; they only need their imports)."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.annotations: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        self.found.add(node.id)

    def _annotation(self, node: ast.expr | None) -> None:
        if node is not None:
            self.annotations |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    def visit_arg(self, node: ast.arg) -> None:
        self._annotation(node.annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._annotation(node.returns)
        self.visit(node.args)
        for item in (*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)):
            self.visit(item)
        for statement in node.body:
            self.visit(statement)

    def visit_arguments(self, node: ast.arguments) -> None:
        for arg in (*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg):
            if arg is not None:
                self.visit_arg(arg)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function


def _used_names(node: ast.stmt) -> tuple[set[str], set[str]]:
    names = _Names()
    names.visit(node)
    return names.found, names.annotations


def sorted_imports(lines: set[str]) -> list[str]:
    """Import lines as isort (ruff's I rules) orders them: standard library, then the others; in each, plain
    ``import`` lines, then ``from`` lines, by module; one ``from`` line per module, its names sorted by type."""
    plain: set[str] = set()
    merged: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            _, module, _, names = line.split(" ", 3)
            merged.setdefault(module, set()).update(n.strip() for n in names.split(","))
        else:
            plain.add(line)

    def name_key(name: str) -> tuple[int, str]:
        bare = name.split(" as ")[0]
        return (0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2, bare.lower())

    def section(module: str) -> int:
        return 0 if module.split(".")[0] in sys.stdlib_module_names else 1

    out = []
    for group in (0, 1):
        out += sorted((line for line in plain if section(line.split()[1]) == group), key=lambda t: t.split()[1])
        out += [f"from {m} import {', '.join(sorted(merged[m], key=name_key))}"
                for m in sorted(merged) if section(m) == group]
    return out


# -- which data -------------------------------------------------------------------------------------------
def data_kind(name: str) -> str:
    """builtin, csv or zip (a design made for "your own images" names ``image_zip``)."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    return "zip" if lowered.endswith(".zip") or lowered == "image_zip" else "builtin"


def load_data(config: TrainConfig, options: dict[str, Any], kind: str, graph: Graph,
              result: ValidationResult) -> Any:
    """The run's data, loaded as the app loads it (the task and loss are decided from it)."""
    from data.datasets import load_dataset
    from data.userdata import load_csv, load_image_zip

    split = (config.val_fraction, config.test_fraction)
    if kind == "builtin":
        return load_dataset(config.dataset, seed=config.seed, fractions=split, **options)
    if Path(config.dataset).is_file():
        load = load_csv if kind == "csv" else load_image_zip
        args = (config.target,) if kind == "csv" else ()
        return load(Path(config.dataset), *args, seed=config.seed, fractions=split, **options)
    if kind == "csv":
        raise CodegenError([f"training script: the CSV file {config.dataset!r} is needed to see its columns; "
                            "load it in the Train tab (or give its path) and export again"])
    return _image_stand_in(graph, result, options)


def _image_stand_in(graph: Graph, result: ValidationResult, options: dict[str, Any]) -> Any:
    """Before any zip is chosen, a stand-in with the model's input shape and one class per output: enough to
    decide the task and loss (classification, cross-entropy); the script reads the real zip."""
    import numpy as np

    from data.base import Task, assemble

    sinks = [result.nodes[n.id].output.shape for n in graph.sinks()]
    classes = int(sinks[0][-1]) if len(sinks) == 1 and len(sinks[0]) == 1 and sinks[0][-1] > 1 else 2
    channels = 1 if options["grayscale"] else 3
    pixels = np.zeros((3 * classes, channels, options["size"], options["size"]), dtype=np.float32)
    labels = np.arange(3 * classes) % classes
    parts_ = tuple(np.arange(k * classes, (k + 1) * classes) for k in range(3))
    return assemble([pixels], labels, parts_, name="your images", task=Task.CLASSIFICATION, input_names=("x",),
                    description="your zip of image folders, one folder per class", num_classes=classes,
                    class_names=[str(c) for c in range(classes)])


def own_data(kind: str) -> Any:
    from data.images import prepare_image_zip
    from data.userdata import prepare_csv

    return prepare_csv if kind == "csv" else prepare_image_zip
