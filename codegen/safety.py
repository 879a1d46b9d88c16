"""The gate every generated source passes before anyone sees or runs it.

It must parse, import only what generated code needs, and reference only names it defines itself or a
short list of harmless builtins; no dunder attribute except the ones the template writes. A failure here
is a bug in codegen (user text can't reach the source unescaped), so it raises ``UnsafeSourceError``.
"""

from __future__ import annotations

import ast

ALLOWED_IMPORTS = {"__future__", "argparse", "dataclasses", "json", "math", "os", "pathlib", "random", "time",
                   "typing", "torch", "torch.nn", "torch.nn.functional", "torch.distributed", "torch.utils.data",
                   "torch.utils.data.distributed", "torch.nn.parallel", "numpy", "sklearn.datasets",
                   "sklearn.model_selection", "sklearn.preprocessing", "pandas", "contextlib"}
SAFE_BUILTINS = {"super", "print", "tuple", "list", "dict", "set", "sum", "len", "range", "int", "float", "bool",
                 "str", "min", "max", "abs", "round", "zip", "enumerate", "isinstance", "sorted", "any", "all",
                 "ValueError", "SystemExit", "Exception", "RuntimeError", "FileNotFoundError", "KeyError",
                 "__name__", "__file__", "open", "reversed", "map"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
                   "vars", "breakpoint", "input"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__file__", "__class__"}


class UnsafeSourceError(RuntimeError):
    pass


def check_source(code: str, extra_builtins: frozenset[str] = frozenset()) -> ast.Module:
    """Parse ``code`` and refuse anything generated code should never contain."""
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise UnsafeSourceError(f"generated code does not parse: {err}") from None
    defined = _defined_names(tree)
    allowed = defined | SAFE_BUILTINS | extra_builtins
    for node in ast.walk(tree):
        _check_node(node, allowed)
    return tree


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _check_node(node: ast.AST, allowed: set[str]) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            _check_import(alias.name)
    elif isinstance(node, ast.ImportFrom):
        _check_import(node.module or "")
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id not in allowed or node.id in FORBIDDEN_CALLS:
            raise UnsafeSourceError(f"generated code refers to an unexpected name {node.id!r} (line {node.lineno})")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
            raise UnsafeSourceError(f"generated code uses the attribute {node.attr!r} (line {node.lineno})")
    elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom)):
        raise UnsafeSourceError(f"generated code contains {type(node).__name__} (line {node.lineno})")


def _check_import(module: str) -> None:
    if module not in ALLOWED_IMPORTS:
        raise UnsafeSourceError(f"generated code imports {module!r}")
