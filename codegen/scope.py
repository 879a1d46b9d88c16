"""What codegen knows of one node of a scope (the model class, or one block's class), already rendered.

``ScopeNode`` is a node as the forward writer (``codegen.forward``) needs it: the constructor expression of its
layer (or None), its forward template, where its inputs come from and its shape comment. ``Body`` is what the
writer gives back: the ``__init__`` and ``forward`` lines and where each node's module and value ended up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.catalog.registry import BlockSpec, Emission


@dataclass
class ScopeNode:
    id: str
    init: str | None  # rendered constructor expression, e.g. "nn.Conv2d(3, 64, kernel_size=3)"; None for inline ops
    forward: str  # template: {out}, {mod}, one placeholder per port, {inputs} for variadic ports
    sources: dict[str, list[str]]  # port -> scope node ids (or input names) feeding it, in order
    comment: str  # the output's shape, e.g. "(N, 64, 56, 56)"
    optional: bool = False  # present only in some uses of a block: `self.x = ... if flag else None`
    flag: str = ""  # the constructor argument that decides an optional node
    repeat_loop: bool = False  # a repeated block with extra inputs: loop over a ModuleList
    # Several outputs (``builder.catalog.registry.Outputs``): which output of each source a port reads (parallel
    # to ``sources``; empty when all read main outputs), and this node's own outputs as its Emission gives them.
    source_ports: dict[str, list[str | None]] = field(default_factory=dict)
    main: str | None = None  # the output an edge without source_port reads
    unpack: tuple[Any, ...] = ()  # the nested tuple of output names the call returns
    unpacked: str = ""  # the template with {unpack}, used when an output other than the main one is read
    reads: dict[str, str] = field(default_factory=dict)  # output -> how a consumer reads it from {var}
    comments: dict[str, str] = field(default_factory=dict)  # output -> its shape, for the unpacking line
    buffer: str | None = None  # "persistent" | "transient": init is a tensor for register_buffer
    own_name: bool = False  # a tensor without a batch dimension (positions): never the main path's variable
    path: str = ""  # the module path it keeps below its class (a node's meta.module_path; codegen.paths)
    names: tuple[str, ...] = ()  # what the original code called its value(s) (meta.value_names): q, k, v


@dataclass
class Body:
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # scope node id -> attribute name or module path
    access: dict[str, str] = field(default_factory=dict)  # scope node id -> how code reads its module (self.x)
    variables: dict[str, str] = field(default_factory=dict)  # scope node id -> the variable holding its value
    expressions: dict[str, str] = field(default_factory=dict)  # where a value is read by more than its name: h[-1]

    def value(self, node_id: str) -> str:
        """How code after the body reads a node's (main) value: its variable, or an expression on it."""
        return self.expressions.get(node_id, self.variables[node_id])


def outputs_of(block: BlockSpec, params: dict[str, Any], emission: Emission) -> dict[str, Any]:
    """The ScopeNode fields of a block with several outputs (none for a block with one)."""
    if block.outputs is None:
        return {}
    return {"main": block.outputs(params).main, "unpack": emission.unpack, "unpacked": emission.unpacked,
            "reads": dict(emission.reads)}


def output_comments(specs: list[dict[str, Any]]) -> dict[str, str]:
    """Each output's shape comment from its specs in every use (``classes.shape_comment`` writes one)."""
    from codegen.classes import shape_comment  # classes imports this module

    names = list(dict.fromkeys(name for found in specs for name in found))
    return {name: shape_comment([found.get(name) for found in specs]) for name in names}


def output_key(node_id: str, port: str | None) -> str:
    """A node's output among a scope's values: the node id for its main output, ``id:port`` for another."""
    return node_id if port is None else f"{node_id}:{port}"
