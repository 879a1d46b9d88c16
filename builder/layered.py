"""A layered (Sugiyama) drawing of a design: layers top to bottom, folded into columns that fit the canvas.

The classic steps, as ELK's ``layered`` and dagre do them, kept small because our graphs are small DAGs:
1. layers: longest path from the inputs, then each node pulled down next to the node it feeds (so a side branch
   such as an encoder-decoder's second input or a shortcut's 1×1 conv ends just above where it joins);
2. a dummy node on every layer a long edge crosses (a skip connection gets its own lane beside the blocks);
3. order within layers: barycentre sweeps down and up;
4. x: each item pulled to the mean of its neighbours, overlaps removed by isotonic regression (pool adjacent
   violators), so chains are straight and branches sit side by side;
5. folding: only a design that one column would show below a legible zoom continues in the next column, like
   text (an opened residual block or a short chain reads top to bottom, as in the textbook); columns are cut only
   where a single edge crosses (never through a branch, so a residual block stays whole), and their count is the
   one that shows the design largest.
Nodes are as wide as their text needs (``node_widths``, from the canvas's faces; ``NODE_W`` at least). Edges are
routed through their lanes and the gaps between layers and columns, where no node ever is, and each label is put
on such a piece: a label is never under a node, and labels that would cover each other (the several inputs of an
Add) are moved apart within their gap.

Why here and not ELK in the browser: Python must know positions before the canvas draws (to fit the view, to
scroll a new block into view, to test the drawing without a browser), and elkjs would add ~1.4 MB of JavaScript to
every page load. grandalf (PyPI) implements steps 1-4 but not folding or label lanes, and is slower (38 ms vs
under 10 ms for 300 nodes here). Pure Python, deterministic: the same graph always gets the same drawing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx

from builder.graph import Graph

NODE_W = 150.0  # the narrowest canvas node (px at 100 %); ui/canvas_frontend draws each node at its given width
MAX_NODE_W = 240.0  # the widest: longer text is abbreviated on the face, in full in its hover title
NODE_H = 58.0  # three lines: type and name, parameters (or the issue), output shape and size
LAYER_GAP = 36.0  # between layers: an edge label (~15 px) sits in it, beside its line
NODE_GAP = 12.0  # between neighbours in a layer
LANE_W = 56.0  # a long edge's lane, at least: its label ("16×8×8") sits in it beside the blocks
BAND_GAP = 32.0  # between folded columns: edges from one column to the next run down this gutter
LABEL_DX = 4.0  # a label in a gap starts this far right of its line
VIEW_W = 676.0  # the canvas at 1280 x 800, measured (wider screens only zoom in more)
VIEW_H = 600.0
FIT_PADDING = 0.03  # the canvas's fitView padding
GOOD_ZOOM = 0.9  # zoom beyond this is not worth another column
LEGIBLE_ZOOM = 0.75  # 12 px node text is 9 px on screen: a design that fits at this zoom is never folded
LABEL_H = 16.0  # an edge label's box (11 px text and its padding)
SWEEPS = 4
STEP_Y = NODE_H + LAYER_GAP

Pos = tuple[float, float]


@dataclass(frozen=True)
class Route:
    """An edge's polyline (flow coordinates) and its label spot, valid while both nodes stay at ``start``/``end``."""

    points: tuple[Pos, ...]
    label_at: Pos
    label_centred: bool  # in a lane: centred on the point; in a gap: starting just right of it
    start: Pos  # the source node's position the route was made for
    end: Pos


@dataclass(frozen=True)
class Drawing:
    positions: Mapping[str, Pos]
    routes: Mapping[tuple[str, str], Route]
    size: tuple[float, float]
    widths: Mapping[str, float] = field(default_factory=dict)  # nodes wider than NODE_W

    def width(self, node: str) -> float:
        return self.widths.get(node, NODE_W)


def fit_zoom(width: float, height: float, view: tuple[float, float] = (VIEW_W, VIEW_H)) -> float:
    """The zoom at which the canvas's fitView shows a ``width`` x ``height`` box."""
    scale = 1 + 2 * FIT_PADDING
    return min(view[0] / (max(width, 1.0) * scale), view[1] / (max(height, 1.0) * scale))


# ---- 1. layers ------------------------------------------------------------------------------------------
def acyclic(graph: Graph) -> nx.DiGraph:
    """The graph's edges as a DAG: one edge of every cycle is dropped (validation reports the cycle)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.node_ids)
    dag.add_edges_from(e.key for e in graph.edges if e.source != e.target)
    if nx.is_directed_acyclic_graph(dag):
        return dag
    while True:
        try:
            cycle = nx.find_cycle(dag)
        except nx.NetworkXNoCycle:
            return dag
        dag.remove_edge(*cycle[-1][:2])


def layers_of(dag: nx.DiGraph, order: list[str]) -> dict[str, int]:
    rank = {k: i for i, k in enumerate(order)}
    topo = list(nx.lexicographical_topological_sort(dag, key=rank.__getitem__))
    layer: dict[str, int] = {}
    for node in topo:
        layer[node] = max((layer[p] + 1 for p in dag.predecessors(node)), default=0)
    for node in reversed(topo):  # pull down next to what it feeds
        succ = [layer[s] for s in dag.successors(node)]
        if succ and min(succ) - 1 > layer[node]:
            layer[node] = min(succ) - 1
    return layer


# ---- 5. folding (chosen before 2-4, which then run per column) -------------------------------------------
def _spans(dag: nx.DiGraph, layer: dict[str, int], count: int, lane_w: float,
           node_w: Mapping[str, float]) -> tuple[list[int], list[float]]:
    """Edges crossing each boundary (between layer b-1 and b), and each layer's width with its lanes."""
    crossing = [0] * (count + 1)
    width = [0.0] * count
    for n, k in layer.items():
        width[k] += node_w.get(n, NODE_W) + NODE_GAP
    for u, v in dag.edges:
        for b in range(layer[u] + 1, layer[v] + 1):
            crossing[b] += 1
            if b < layer[v]:
                width[b] += lane_w + NODE_GAP
    return crossing, width


def _cuts(count: int, per_band: int, crossing: list[int]) -> list[tuple[int, int]]:
    """Bands of at most ``per_band`` layers where possible, each ending where a single edge crosses (the latest
    such boundary in the band's last third; a band with none runs on to the next one)."""
    bands, start = [], 0
    while start < count:
        last = min(count, start + per_band)
        if last == count:
            bands.append((start, count))
            break
        low = start + max(1, (per_band * 2) // 3)
        ends = [b for b in range(last, low - 1, -1) if crossing[b] <= 1]
        ends = ends or [b for b in range(start + 1, count) if crossing[b] <= 1 and b > last][:1]
        ends = ends or [b for b in range(low - 1, start, -1) if crossing[b] <= 1][:1]
        end = ends[0] if ends else count
        bands.append((start, end))
        start = end
    return bands


def choose_bands(dag: nx.DiGraph, layer: dict[str, int], lane_w: float = LANE_W,
                 node_w: Mapping[str, float] | None = None) -> list[tuple[int, int]]:
    count = max(layer.values(), default=-1) + 1
    if count == 0:
        return []
    crossing, width = _spans(dag, layer, count, lane_w, node_w or {})
    whole = fit_zoom(max(width) - NODE_GAP, count * STEP_Y)
    if whole >= LEGIBLE_ZOOM:
        return [(0, count)]  # it reads top to bottom at a legible zoom: no column is worth the turn
    best, best_key = [(0, count)], None
    for per_band in range(count, 0, -1):
        bands = _cuts(count, per_band, crossing)
        w = sum(max(width[a:b]) - NODE_GAP for a, b in bands) + BAND_GAP * (len(bands) - 1)
        h = max(b - a for a, b in bands) * STEP_Y  # with the lanes above and below the layers
        key = (round(min(fit_zoom(w, h), GOOD_ZOOM), 3), -len(bands), -sum(crossing[b] for _, b in bands[:-1]))
        if best_key is None or key > best_key:
            best, best_key = bands, key
        if h * fit_zoom(w, h) < VIEW_H * 0.5:  # columns this short only get narrower views: stop
            break
    return best


# ---- 2-4. one column: lanes, order, x --------------------------------------------------------------------
Item = str | tuple[int, int]  # a node id, or (edge index, layer) for a lane


@dataclass
class _Band:
    rows: list[list[Item]]  # items per local layer, in order
    up: dict[Item, list[Item]]
    down: dict[Item, list[Item]]
    centre: dict[Item, float]
    width: dict[Item, float]


def _band(nodes: list[str], layer: dict[str, int], start: int, edges: list[tuple[int, str, str]],
          lanes: Mapping[int, float], node_w: Mapping[str, float]) -> _Band:
    rows: list[list[Item]] = [[] for _ in range(max((layer[n] - start for n in nodes), default=-1) + 1)]
    for n in nodes:
        rows[layer[n] - start].append(n)
    up: dict[Item, list[Item]] = defaultdict(list)
    down: dict[Item, list[Item]] = defaultdict(list)
    width: dict[Item, float] = {n: node_w.get(n, NODE_W) for n in nodes}
    for index, u, v in edges:
        chain: list[Item] = [u]
        for k in range(layer[u] + 1, layer[v]):
            lane = (index, k)
            width[lane] = lanes.get(index, LANE_W)
            rows[k - start].append(lane)
            chain.append(lane)
        chain.append(v)
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
    band = _Band(rows, up, down, {}, width)
    _order(band)
    _place(band)
    return band


def _order(band: _Band) -> None:
    """Barycentre sweeps: each layer sorted by the mean place of its neighbours in the layer just done."""
    place = {item: float(i) for row in band.rows for i, item in enumerate(row)}
    for sweep in range(SWEEPS):
        rows = band.rows[1:] if sweep % 2 == 0 else band.rows[-2::-1]
        links = band.up if sweep % 2 == 0 else band.down
        for row in rows:
            def key(item: Item, links=links) -> tuple[float, float]:
                near = [place[n] for n in links.get(item, ())]
                return (sum(near) / len(near) if near else place[item], place[item])
            row.sort(key=key)
            place.update((item, float(i)) for i, item in enumerate(row))


def _pav(targets: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing values closest to ``targets`` (weighted least squares): pool adjacent violators."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for t, w in zip(targets, weights):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out.extend([mean] * int(count))
    return out


def _place(band: _Band) -> None:
    """x centres: neighbours pull, order and spacing hold (lanes pull harder, so long edges run straight)."""
    centre = band.centre
    for row in band.rows:
        x = 0.0
        for item in row:
            centre[item] = x + band.width[item] / 2
            x += band.width[item] + NODE_GAP
    passes = [band.up, band.down, band.up, band.down, None, None]
    for links in passes:
        rows = band.rows if links is not band.down else band.rows[::-1]
        for row in rows:
            _settle(row, centre, band, links)
    _straighten(band)


def _straighten(band: _Band) -> None:
    """Put each chain (one out, one in: a run of blocks, a long edge's lane) on one vertical line where it fits."""
    where = {item: (r, i) for r, row in enumerate(band.rows) for i, item in enumerate(row)}
    seen: set[Item] = set()
    chains = []
    for row in band.rows:
        for item in row:
            if item in seen:
                continue
            chain = [item]
            while len(band.down.get(chain[-1], ())) == 1 and len(band.up.get(band.down[chain[-1]][0], ())) == 1:
                chain.append(band.down[chain[-1]][0])
            seen.update(chain)
            if len(chain) > 1:
                chains.append(chain)
    for chain in sorted(chains, key=len, reverse=True):
        xs = sorted(band.centre[c] for c in chain)
        low, high = -1e18, 1e18
        for c in chain:
            lo, hi = _room(band, where[c])
            low, high = max(low, lo), min(high, hi)
        if low <= high:
            x = min(max(xs[len(xs) // 2], low), high)
            band.centre.update((c, x) for c in chain)


def _room(band: _Band, at: tuple[int, int]) -> tuple[float, float]:
    """The centres an item can take without touching its neighbours in its layer."""
    row, i = band.rows[at[0]], at[1]
    half = band.width[row[i]] / 2
    low = band.centre[row[i - 1]] + band.width[row[i - 1]] / 2 + NODE_GAP + half if i > 0 else -1e18
    high = band.centre[row[i + 1]] - band.width[row[i + 1]] / 2 - NODE_GAP - half if i + 1 < len(row) else 1e18
    return low, high


def _settle(row: list[Item], centre: dict[Item, float], band: _Band, links: dict | None) -> None:
    """One layer's centres: each pulled to its neighbours' mean, the layer's order and spacing kept."""
    offsets, targets, weights = [], [], []
    offset = 0.0
    for i, item in enumerate(row):
        if i:
            offset += (band.width[row[i - 1]] + band.width[item]) / 2 + NODE_GAP
        near = list(links.get(item, ())) if links is not None else [*band.up.get(item, ()), *band.down.get(item, ())]
        if near:
            pull = [_pull(band, item, n) for n in near]
            want = sum(centre[n] * w for n, w in zip(near, pull)) / sum(pull)
            weight = sum(pull)
        else:
            want, weight = centre[item], 0.01
        offsets.append(offset)
        targets.append(want - offset)
        weights.append(weight)
    for item, value, offset in zip(row, _pav(targets, weights), offsets):
        centre[item] = value + offset


def _pull(band: _Band, a: Item, b: Item) -> float:
    """How hard two linked items pull together: links of a chain (one out, one in) and lanes run straight."""
    if not isinstance(a, str) and not isinstance(b, str):
        return 8.0
    single = len(band.down.get(a, ())) == 1 and len(band.up.get(b, ())) == 1
    single = single or (len(band.down.get(b, ())) == 1 and len(band.up.get(a, ())) == 1)
    return 8.0 if single else 1.0


# ---- the whole drawing -----------------------------------------------------------------------------------
def draw(graph: Graph, label_widths: Mapping[tuple[str, str], float] | None = None,
         node_widths: Mapping[str, float] | None = None) -> Drawing:
    """Positions for every node and a route for every edge that runs down the layers.

    ``label_widths`` (px, per edge key) widen a long edge's lane so its label fits beside the blocks and keep
    labels apart; ``node_widths`` (px, per node, ``NODE_W`` where absent) are the faces' widths.
    """
    ids = set(graph.node_ids)
    node_w = {n: min(max(w, NODE_W), MAX_NODE_W) for n, w in (node_widths or {}).items() if n in ids}
    node_w = {n: w for n, w in node_w.items() if w > NODE_W}
    dag = acyclic(graph)
    layer = layers_of(dag, graph.node_ids)
    widths = label_widths or {}
    lanes = {i: max(LANE_W, widths.get(e.key, 0.0) + 8.0) for i, e in enumerate(graph.edges)}
    bands = choose_bands(dag, layer, max(lanes.values(), default=LANE_W), node_w)
    band_of = {n: next(i for i, (a, b) in enumerate(bands) if a <= k < b) for n, k in layer.items()}
    edges = [(i, e.source, e.target) for i, e in enumerate(graph.edges) if dag.has_edge(e.source, e.target)]
    centres: dict[Item, float] = {}
    lefts: list[float] = []
    x0 = 0.0
    for index, (start, _) in enumerate(bands):
        nodes = [n for n in graph.node_ids if band_of[n] == index]
        inner = [(i, u, v) for i, u, v in edges if band_of[u] == band_of[v] == index]
        band = _band(nodes, layer, start, inner, lanes, node_w)
        low = min(c - band.width[item] / 2 for item, c in band.centre.items())
        high = max(c + band.width[item] / 2 for item, c in band.centre.items())
        centres.update((item, c - low + x0) for item, c in band.centre.items())
        lefts.append(x0)
        x0 += high - low + BAND_GAP
    top = {n: (layer[n] - bands[band_of[n]][0]) * STEP_Y for n in graph.node_ids}
    positions = {n: (centres[n] - node_w.get(n, NODE_W) / 2, top[n]) for n in graph.node_ids}
    gutters = [*lefts[1:], x0] if bands else []
    routes = _routes(graph, edges, layer, band_of, centres, positions, gutters, node_w)
    height = max((b - a for a, b in bands), default=0) * STEP_Y - LAYER_GAP
    return Drawing(positions, routes, (max(x0 - BAND_GAP, 0.0), max(height, 0.0)), node_w)


# ---- routes: through lanes, the gaps between layers and the gutters between columns -----------------------
def _routes(graph: Graph, edges: list[tuple[int, str, str]], layer: dict[str, int], band_of: dict[str, int],
            centres: dict[Item, float], positions: dict[str, Pos], gutters: list[float],
            node_w: Mapping[str, float]) -> dict[tuple[str, str], Route]:
    outs: dict[str, int] = defaultdict(int)
    ins: dict[str, list[tuple[float, int]]] = defaultdict(list)
    approach: dict[int, float] = {}
    crossings: dict[int, int] = defaultdict(int)  # edges down each gutter so far: they run side by side
    gutter_x: dict[int, float] = {}
    for index, u, v in edges:
        outs[u] += 1
        if band_of[u] == band_of[v]:
            approach[index] = centres[(index, layer[v] - 1)] if layer[v] - layer[u] > 1 else centres[u]
        else:
            lane = band_of[v] - 1
            gutter_x[index] = gutters[band_of[u]] - BAND_GAP / 2 + 6.0 * (crossings[band_of[u]] % 5 - 2)
            crossings[band_of[u]] += 1
            approach[index] = gutters[lane] - BAND_GAP / 2
        ins[v].append((approach[index], index))
    entry: dict[int, float] = {}
    for v, arrivals in ins.items():
        arrivals.sort()
        for k, (_, index) in enumerate(arrivals):
            entry[index] = positions[v][0] + node_w.get(v, NODE_W) * (k + 1) / (len(arrivals) + 1)
    routes: dict[tuple[str, str], Route] = {}
    for index, u, v in edges:
        (sx, sy), ty = positions[u], positions[v][1]
        start, end = (sx + node_w.get(u, NODE_W) / 2, sy + NODE_H), (entry[index], ty)
        below, above = sy + NODE_H + LAYER_GAP / 2, ty - LAYER_GAP / 2
        if band_of[u] != band_of[v]:
            points, label = _jump(start, end, below, above, gutter_x[index], gutters, band_of[u], band_of[v])
            centred = True
        else:
            path = [(centres[(index, k)], positions[u][1] + (k - layer[u]) * STEP_Y)
                     for k in range(layer[u] + 1, layer[v])]
            points = _down(start, end, below, path)
            if path:
                mid = path[len(path) // 2]
                label, centred = (mid[0], mid[1] + NODE_H / 2), True
            elif len(ins[v]) > 1 and outs[u] == 1:
                label, centred = (start[0] + LABEL_DX, below), False
            else:
                label, centred = (end[0] + LABEL_DX, above), False
        routes[(u, v)] = Route(_simplified(points), label, centred, positions[u], positions[v])
    return routes


def _down(start: Pos, end: Pos, below: float, lanes: list[Pos]) -> list[Pos]:
    """Down from the source, through each lane (switching lanes only in a gap), into the target."""
    points = [start, (start[0], below)]
    for x, y in lanes:
        points += [(x, points[-1][1]), (x, y + NODE_H + LAYER_GAP / 2)]
    return [*points, (end[0], points[-1][1]), end]


def _jump(start: Pos, end: Pos, below: float, above: float, gutter: float, gutters: list[float],
          source_band: int, target_band: int) -> tuple[list[Pos], Pos]:
    """To a later column: along the gap below the source, up or down the gutter, along the gap above the target.

    Skipping a column goes over the top of the drawing (the row above the first layer is always empty).
    """
    points = [start, (start[0], below), (gutter, below)]
    arrive = gutter if target_band - source_band == 1 else gutters[target_band - 1] - BAND_GAP / 2
    if target_band - source_band > 1:
        over = -LAYER_GAP / 2 - 4.0
        points += [(gutter, over), (arrive, over)]
    points += [(arrive, above), (end[0], above), end]
    return points, ((arrive + end[0]) / 2, above)


def _simplified(points: list[Pos]) -> tuple[Pos, ...]:
    """Without repeated points and without the middle of three points on one line."""
    out: list[Pos] = []
    for p in points:
        if out and abs(out[-1][0] - p[0]) < 0.01 and abs(out[-1][1] - p[1]) < 0.01:
            continue
        if len(out) >= 2:
            (ax, ay), (bx, by) = out[-2], out[-1]
            if (abs(ax - bx) < 0.01 and abs(bx - p[0]) < 0.01) or (abs(ay - by) < 0.01 and abs(by - p[1]) < 0.01):
                out[-1] = p
                continue
        out.append(p)
    return tuple(out)
