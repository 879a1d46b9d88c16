"""Which incoming edge feeds which input port of a block.

Edges with an explicit ``port`` go there; edges without one fill the remaining ports in declared order
(required ports first). A variadic port (Add, Concat) orders numbered edges by number, then unnumbered
ones in edge order. Validation and codegen both use this, so the code wires exactly what the canvas shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.catalog import Fix
from builder.catalog.registry import BlockSpec
from builder.graph import Edge


@dataclass(frozen=True)
class PortProblem:
    message: str
    edge: tuple[str, str] | None = None
    fix: Fix | None = None


def assign_ports(block: BlockSpec, edges: list[Edge]) -> dict[str, list[Edge]] | PortProblem:
    if block.ports and block.ports[0].variadic:
        return _assign_variadic(block, edges)
    return _assign_named(block, edges)


def _assign_variadic(block: BlockSpec, edges: list[Edge]) -> dict[str, list[Edge]] | PortProblem:
    port = block.ports[0].name
    numbered = sorted((e for e in edges if e.port is not None), key=lambda e: int(e.port))
    numbers = [int(e.port) for e in numbered]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        return PortProblem(f"{block.type} has two edges on input {dup}; give each input its own number")
    ordered = numbered + [e for e in edges if e.port is None]
    if len(ordered) < 2:
        return PortProblem(f"{block.type} needs at least two inputs; it has {len(ordered)}")
    return {port: ordered}


def _assign_named(block: BlockSpec, edges: list[Edge]) -> dict[str, list[Edge]] | PortProblem:
    assigned: dict[str, list[Edge]] = {}
    for edge in edges:
        if edge.port is not None:
            if edge.port in assigned:
                return PortProblem(f"{block.type} receives two edges on port '{edge.port}' (from ‘{assigned[edge.port][0].source}’ "
                                   f"and ‘{edge.source}’); one port takes one input", edge=edge.key,
                                   fix=Fix("remove this edge", "remove_edge", {"source": edge.source, "target": edge.target}))
            assigned[edge.port] = [edge]
    order = [p for p in block.ports if not p.optional] + [p for p in block.ports if p.optional]
    free = [p.name for p in order if p.name not in assigned]
    for edge in (e for e in edges if e.port is None):
        if not free:
            names = ", ".join(f"‘{e.source}’" for e in edges)
            extra = f"; its ports: {', '.join(p.name for p in block.ports)}" if len(block.ports) > 1 else ""
            return PortProblem(f"{block.type} takes {_count(len(block.ports))} but receives {len(edges)}: from {names}{extra}",
                               edge=edge.key,
                               fix=Fix(f"remove the edge from ‘{edge.source}’", "remove_edge",
                                       {"source": edge.source, "target": edge.target}))
        assigned[free.pop(0)] = [edge]
    for port in block.ports:
        if not port.optional and port.name not in assigned:
            return PortProblem(f"{block.type} needs an input on port '{port.name}' ({port.doc})")
    return assigned


def _count(n: int) -> str:
    return "one input" if n == 1 else f"{n} inputs"
