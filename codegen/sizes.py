"""A size inside a block, written as what it is: ``planes``, ``planes * 4``, ``in_channels`` or ``64``.

A layer inside a block reads some sizes from its incoming tensor (a convolution's ``in_channels``). In the block's
class that size must be an expression that is right for *every* input the block may get, so it is traced back
through the block by meaning (``codegen.probes``): a BatchNorm's channels are those of the convolution before it,
which are that convolution's ``out_channels``, which the definition wrote as ``$planes`` — so ``planes``. A size that
comes straight from the block's input becomes a constructor argument (``in_channels``). Nothing is matched by value.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from builder.catalog import get_block
from builder.graph import PORT, Definition, Node
from builder.refs import is_ref, parse_ref
from builder.validate import ValidationResult
from codegen.literals import literal
from codegen.probes import UNEXPLAINED, Layer, Reads, SetBy, SumOf, output_origin

InputSize = tuple[str, int]  # (input port of the block, dimension without the batch)


@dataclass(frozen=True)
class Size:
    """A Python expression in which ``token(port, dim)`` stands for a size of the block's input (``reads``): it
    becomes a constructor argument only if this expression is the one written."""

    text: str
    reads: frozenset[InputSize] = frozenset()
    params: frozenset[str] = frozenset()  # block parameters it names

    def times(self, factor: int) -> Size:
        if factor == 1:
            return self
        return Size(f"({self.text}) * {factor}", self.reads, self.params)


def token(port: str, dim: int) -> str:
    return f"__input_{port}__{dim}"


def joined(parts: list[Size]) -> Size:
    """A tuple of sizes (a LayerNorm's ``normalized_shape`` over two dimensions)."""
    text = "(" + ", ".join(p.text for p in parts) + ("," if len(parts) == 1 else "") + ")"
    return Size(text, frozenset().union(*(p.reads for p in parts)), frozenset().union(*(p.params for p in parts)))


def substitute(text: str, names: dict[str, str]) -> str:
    """``text`` with each name replaced by an expression (a child class's argument by what the parent passes)."""

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802 — ast's visitor naming
            return ast.parse(names[node.id], mode="eval").body if node.id in names else node

    return ast.unparse(Swap().visit(ast.parse(text, mode="eval")))


def names_in(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}


def tidy(text: str) -> str:
    """``(planes) * 4`` → ``planes * 4``: parentheses only where Python needs them."""
    return ast.unparse(ast.parse(text, mode="eval"))


@dataclass
class SizeTracer:
    """Traces sizes through one definition's graph, using the validated uses for the layers' resolved settings.

    ``instance_output`` answers for a block instance inside this one: its output size ``dim`` as a Size over this
    scope (the child class's own expression with its arguments replaced by what this scope passes)."""

    definition: Definition
    sources: Callable[[Node], dict[str, list[str]]]  # a node's port -> the scope nodes feeding it
    layer_of: Callable[[Node], Layer | None]  # the node as validation resolved it in its first use; None if absent
    instance_output: Callable[[Node, int], Size | None]
    optional: Callable[[Node], bool]  # present only in some uses
    _memo: dict[tuple[str, int], Size | None] = field(default_factory=dict)

    def of(self, node_id: str, dim: int) -> Size | None:
        """Dimension ``dim`` of the value ``node_id`` produces, or None when it can't be said by meaning."""
        key = (node_id, dim)
        if key not in self._memo:
            self._memo[key] = None  # a cycle can't occur in a valid design; this guards a broken one
            self._memo[key] = self._trace(self.definition.graph.node(node_id), dim)
        return self._memo[key]

    def entering(self, node: Node, port: str, dim: int) -> Size | None:
        """Dimension ``dim`` of the tensor entering ``node`` at ``port``: the best of its sources (an Add's inputs
        are equal, so the one the definition names — a parameter — reads better than a derived input size)."""
        found = [self.of(source, dim) for source in self.sources(node).get(port, [])]
        found = [s for s in found if s is not None]
        return min(found, key=lambda s: len(s.reads)) if found else None

    def setting(self, node: Node, name: str, value: object) -> Size:
        """A layer's own setting: the definition's formula for it, or the literal it holds."""
        written = node.params.get(name)
        if is_ref(written):
            ref = parse_ref(written)
            return Size(ref.python(), params=frozenset(ref.names))
        return Size(literal(value))

    def _trace(self, node: Node, dim: int) -> Size | None:
        if node.type == PORT:
            return Size(token(node.id, dim), frozenset({(node.id, dim)}))
        if node.type == "Input":
            return None
        layer = self.layer_of(node)
        optional = self.optional(node)
        if layer is None and not optional:
            return self.instance_output(node, dim)
        origin = output_origin(layer, dim) if layer is not None else UNEXPLAINED
        if isinstance(origin, Reads):
            return self.entering(node, origin.port, origin.dim)
        if optional:  # its value is its input's where it is absent: only a size it keeps is known
            return None
        if isinstance(origin, SetBy):
            value = layer.params[origin.param]
            value = value[0] if isinstance(value, (list, tuple)) else value  # normalized_shape [64] is one size
            return self.setting(node, origin.param, value).times(origin.factor)
        if isinstance(origin, SumOf):
            return self._sum(node, origin)
        return None

    def _sum(self, node: Node, origin: SumOf) -> Size | None:
        parts = [self.of(source, origin.dim) for source in self.sources(node).get(origin.port, [])]
        if not parts or any(p is None for p in parts):
            return None
        return Size(" + ".join(f"({p.text})" for p in parts), frozenset().union(*(p.reads for p in parts)),
                    frozenset().union(*(p.params for p in parts)))


def layer_for(node: Node, flat: ValidationResult, flat_id: str) -> Layer | None:
    info = flat.nodes.get(flat_id)
    if info is None or info.output is None:
        return None
    return Layer(get_block(node.type), dict(info.params), frozenset(node.params), dict(info.inputs))
