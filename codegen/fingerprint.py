"""Whether weights belong to a design: two designs take the same weights when their generated classes are the same
once comments, docstrings and the design's name are set aside. Used by the run store and the exports."""

from __future__ import annotations

import ast

from builder.graph import Graph
from codegen.source import CodegenError, ModelSource, generate_model


def model_fingerprint(source: ModelSource) -> str:
    """What the weights depend on: the generated classes without comments, docstrings or the design's name.
    Two designs with the same fingerprint take the same weights and compute the same function with them."""
    tree = ast.parse(source.code)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    for node in ast.walk(ast.Module(body=classes, type_ignores=[])):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, ast.ClassDef) and node.name == source.class_name:
            node.name = "Model"
        elif isinstance(node, ast.Name) and node.id == source.class_name:
            node.id = "Model"
    return "\n".join(ast.dump(node) for node in classes)


def design_mismatch(graph: Graph, trained: Graph | ModelSource, who: str) -> str | None:
    """Why weights trained on ``trained`` (a design, or its generated source) don't belong to ``graph``; None
    when they do. ``who`` names the weights in the message ("run 12")."""
    try:
        mine = generate_model(graph)
        theirs = trained if isinstance(trained, ModelSource) else generate_model(trained)
    except CodegenError as err:
        return f"{who}: the model can't be generated ({err.problems[0]})"
    if model_fingerprint(mine) != model_fingerprint(theirs):
        return (f"{who} trained a different model from this design (its layers or their settings differ): "
                "load that run's design, or train this one")
    return None


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
