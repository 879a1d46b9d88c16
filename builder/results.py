"""What validation finds: a result per node (shape, parameters, issues) and the issues themselves.

Plain values shared by ``builder.validate`` (which computes them) and ``builder.fold`` (which folds the results of
the layers inside blocks onto the blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from builder.catalog import Fix, TensorSpec
from builder.catalog.registry import Resolved
from builder.graph import Edge, Graph

if TYPE_CHECKING:
    from builder.blocks import Expansion


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    node: str | None  # None for graph-level issues (no Input, model too large)
    message: str
    code: str = "shape"  # shape | cycle | no_input | unconnected | ports | size | unused
    severity: Severity = Severity.ERROR
    edge: tuple[str, str] | None = None
    fix: Fix | None = None
    inner: str | None = None  # inside a block: the flat id of the inner node at fault ("layer2.0.conv1")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "message": self.message, "code": self.code,
                               "severity": self.severity.value}
        if self.inner:
            out["inner"] = self.inner
        if self.edge:
            out["edge"] = {"source": self.edge[0], "target": self.edge[1]}
        if self.fix:
            out["fix"] = {"label": self.fix.label, "action": self.fix.action, "args": dict(self.fix.args)}
        return out


@dataclass
class NodeInfo:
    id: str
    type: str
    output: TensorSpec | None = None  # a block with several outputs: its main one (``main_output``)
    outputs: dict[str, TensorSpec] = field(default_factory=dict)  # several outputs: each by name; else empty
    inputs: dict[str, Any] = field(default_factory=dict)  # port -> TensorSpec or list for variadic ports
    sources: dict[str, list[str]] = field(default_factory=dict)  # port -> source node ids, in order
    # port -> which output of each source (parallel to ``sources``); only where some edge names one
    source_ports: dict[str, list[str | None]] = field(default_factory=dict)
    params: Resolved = field(default_factory=dict)  # defaults filled and inferred sizes resolved
    param_count: int = 0
    macs: int = 0
    issues: list[Issue] = field(default_factory=list)
    blocked_by: str | None = None  # the upstream node whose problem stops this one
    partial: bool = False  # a block whose param_count leaves out layers that wait for a fix (no shape yet)

    @property
    def ok(self) -> bool:
        return self.output is not None

    def port_output(self, port: str | None) -> TensorSpec | None:
        """The spec of one output: ``port`` None is the main output (the only one of most blocks)."""
        return self.output if port is None else self.outputs.get(port)

    def source_port(self, port: str, k: int = 0) -> str | None:
        """Which output of its ``k``-th source the input ``port`` reads (None: the main one)."""
        found = self.source_ports.get(port)
        return found[k] if found else None


@dataclass
class ValidationResult:
    graph: Graph
    nodes: dict[str, NodeInfo]
    issues: list[Issue]
    order: list[str]  # topological order of the nodes that have a shape
    # Designs with blocks made of blocks: the expanded design and its validation (what codegen and torch see).
    flat: ValidationResult | None = None
    expansion: Expansion | None = None

    @property
    def leaves(self) -> ValidationResult:
        """The result over plain layers only: the flat one for a design with blocks, else this one."""
        return self.flat or self

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(info.param_count for info in self.nodes.values())

    def edge_shape(self, edge: Edge) -> TensorSpec | None:
        info = self.nodes.get(edge.source)
        return info.port_output(edge.source_port) if info else None

    def outputs(self) -> list[str]:
        return [n.id for n in self.graph.sinks()]
