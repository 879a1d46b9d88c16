"""A chunk whose piece enters a submodule (ShuffleNet's ``x1, x2 = x.chunk(2, dim=1)`` then ``self.branch2(x2)``)
becomes one index op per piece (``x[:, :58]``, ``x[:, 58:]``), so that submodule stays a block.

A block's inputs carry main outputs only (docs/outputs.md): fed the chunk's second output, ``branch2`` would dissolve
into its parent as attributes ``branch2_0``, ``branch2_1``…, and the original state dict (``branch2.0.weight``) would
no longer load into the generated code by its own names. Each piece as its own op computes the same values and is a
main output, so the border is an ordinary one.
"""

from __future__ import annotations

from dataclasses import replace

from builder.graph import Edge, Graph, Node
from importer.translate import Context, Tensor

_CUTS = ("chunk", "split")


def unpack_crossing_pieces(flat: Graph, ctx: Context) -> Graph:
    """``flat`` with every chunk/split whose piece crosses into a submodule replaced by index ops (one per piece)."""
    from importer.scopes import home_of

    home = {n.id: home_of(ctx, n.id) for n in flat.nodes}
    cuts = {n.id: n for n in flat.nodes if n.type in _CUTS}
    crossing = {e.source for e in flat.edges if e.source in cuts and e.source_port is not None
                and _enters(home.get(e.source, ""), home.get(e.target, ""))}
    if not crossing:
        return flat
    shapes = {t.node: t.shape for t in ctx.env.values() if isinstance(t, Tensor) and t.source_port is None}
    feeding = {e.target: e for e in flat.edges if e.target in crossing}
    pieces: dict[str, list[Node]] = {}
    for cut_id in sorted(crossing):
        feed = feeding.get(cut_id)
        shape = shapes.get(feed.source) if feed is not None and feed.source_port is None else None
        made = _as_indexes(cuts[cut_id], shape, {n.id for n in flat.nodes}) if shape else None
        if made:
            pieces[cut_id] = made
            for node in made:
                ctx.scopes[node.id] = ctx.scopes.get(cut_id, "")
                ctx.hints[node.id] = "piece"
    if not pieces:
        return flat
    nodes: list[Node] = []
    for node in flat.nodes:
        nodes.extend(pieces.get(node.id, [node]))
    edges: list[Edge] = []
    for edge in flat.edges:
        if edge.target in pieces:  # the cut's input feeds every piece
            edges.extend(replace(edge, target=p.id, port=None) for p in pieces[edge.target])
        elif edge.source in pieces:
            index = int(edge.source_port or 0)
            edges.append(replace(edge, source=pieces[edge.source][index].id, source_port=None))
        else:
            edges.append(edge)
    return replace(flat, nodes=tuple(nodes), edges=tuple(edges))


def _enters(source_home: str, target_home: str) -> bool:
    """The target lives in a submodule below the source's module (the piece goes in through a border)."""
    return target_home != source_home and (not source_home or target_home.startswith(source_home + "."))


def _as_indexes(cut: Node, shape: tuple[int, ...], taken: set[str]) -> list[Node] | None:
    """One index node per piece of ``cut`` on an input of ``shape`` (batch first), or None when its sizes don't
    add up (a cut the trace didn't record as expected)."""
    rank = len(shape)
    dim = int(cut.params.get("dim", 0))
    dim = dim % rank if rank else 0
    if not 0 < dim < rank:
        return None
    size = shape[dim]
    if cut.type == "chunk":
        step = -(-size // int(cut.params["chunks"]))  # torch's chunk: pieces of ceil(size / chunks), the last smaller
        sizes = [min(step, size - start) for start in range(0, size, step)]
    else:  # split: one size is pieces of that size (the last may be smaller), several one piece each
        sizes = [int(s) for s in cut.params.get("sizes", [])]
        if len(sizes) == 1 and sizes[0] > 0:
            sizes = [min(sizes[0], size - start) for start in range(0, size, sizes[0])]
    if not sizes or sum(sizes) != size:
        return None
    made, start = [], 0
    for k, length in enumerate(sizes):
        stop = start + length
        bounds = f"{start or ''}:{stop if stop < size else ''}"
        node_id = cut.id if k == 0 else _fresh(f"{cut.id}_piece{k}", taken)  # the cut's own id is free again
        made.append(Node(node_id, "index", {"index": ", ".join([":"] * dim + [bounds])}, meta=dict(cut.meta)))
        start = stop
    return made


def _fresh(base: str, taken: set[str]) -> str:
    node_id, k = base, 1
    while node_id in taken:
        node_id = f"{base}_{k}"
        k += 1
    taken.add(node_id)
    return node_id
