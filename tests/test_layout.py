"""The layered drawing: no overlapping nodes, edges routed through lanes and gaps (never across a node), labels
never under a node, folded columns that keep a template legible at 1280 x 800, pinned nodes kept, stable."""

from __future__ import annotations

import pytest

from builder.edits import add_node, move_node, set_param, unpin_all
from builder.graph import Edge, Graph, Node
from builder.layered import STEP_Y, VIEW_H, VIEW_W, draw
from builder.layout import NODE_H, NODE_W, auto_layout, fit_zoom, needs_layout, overlaps, place
from builder.templates import load_template, template_names
from builder.validate import validate
from ui.design.canvas_view import LABEL_CHAR_W, drawing

LEGIBLE = 0.75  # 12 px node text is 9 px on screen at this zoom


def chain(n: int, first: str = "Input", then: str = "ReLU") -> Graph:
    graph, last = add_node(Graph(), first)
    for _ in range(n - 1):
        graph, last = add_node(graph, then, after=last)
    return graph


def residual() -> Graph:
    """x → a → b → c → add, with the skip x → add (a lane beside a, b, c)."""
    nodes = [Node("x", "Input"), *(Node(k, "ReLU") for k in "abc"), Node("add", "Add")]
    edges = [Edge("x", "a"), Edge("a", "b"), Edge("b", "c"), Edge("c", "add", "1"), Edge("x", "add", "2")]
    return Graph(nodes=tuple(nodes), edges=tuple(edges))


def flat_resnet() -> Graph:
    """resnet_mini as format 1 drew it: stem, a residual block, a downsampling residual block, head."""
    chains = [["x", "stem", "stem_bn", "stem_relu", "b1_conv1", "b1_bn1", "b1_relu", "b1_conv2", "b1_bn2", "b1_add",
               "b1_out", "b2_conv1", "b2_bn1", "b2_relu", "b2_conv2", "b2_bn2", "b2_add", "b2_out", "gap", "flat",
               "fc"], ["stem_relu", "b1_add"], ["b1_out", "b2_down", "b2_down_bn", "b2_add"]]
    types = {"x": "Input", "gap": "AdaptiveAvgPool2d", "flat": "Flatten", "fc": "Linear"}
    ids = dict.fromkeys(k for c in chains for k in c)
    kind = {k: types.get(k) or ("Add" if "add" in k else "BatchNorm2d" if "bn" in k else "ReLU" if "relu" in k
                                or "out" in k else "Conv2d") for k in ids}
    edges = [Edge(a, b) for c in chains for a, b in zip(c, c[1:])]
    return Graph(nodes=tuple(Node(k, kind[k]) for k in ids), edges=tuple(edges))


def boxes(positions, widths=None) -> dict[str, tuple[float, float, float, float]]:
    widths = widths or {}
    return {k: (x, y, x + widths.get(k, NODE_W), y + NODE_H) for k, (x, y) in positions.items()}


def hits(box, rect, margin: float = 0.5) -> bool:
    return not (rect[2] <= box[0] + margin or rect[0] >= box[2] - margin
                or rect[3] <= box[1] + margin or rect[1] >= box[3] - margin)


def segment_rect(a, b, pad: float = 1.0):
    return (min(a[0], b[0]) - pad, min(a[1], b[1]) - pad, max(a[0], b[0]) + pad, max(a[1], b[1]) + pad)


def check_drawing(graph: Graph) -> None:
    """The properties the canvas promises, for any graph."""
    result = validate(graph)
    drawn, labels = drawing(graph, result)
    placed = boxes(drawn.positions, drawn.widths)
    ids = sorted(placed)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert not hits(placed[a], placed[b], margin=0), f"{a} overlaps {b}"
    spots = []
    for (source, target), route in drawn.routes.items():
        assert route.points[0][1] == pytest.approx(placed[source][3])  # leaves at the bottom
        assert route.points[-1][1] == pytest.approx(placed[target][1])  # enters at the top
        for a, b in zip(route.points, route.points[1:]):
            assert a[0] == pytest.approx(b[0]) or a[1] == pytest.approx(b[1]), "segments are straight"
            for node_id, box in placed.items():
                if node_id not in (source, target):
                    assert not hits(box, segment_rect(a, b)), f"{source}→{target} crosses {node_id}"
        w = len(labels[(source, target)]) * LABEL_CHAR_W + 6
        x, y = route.label_at
        rect = (x - w / 2, y - 8, x + w / 2, y + 8) if route.label_centred else (x, y - 8, x + w, y + 8)
        for node_id, box in placed.items():
            assert not hits(box, rect), f"the label of {source}→{target} is under {node_id}"
        for other, box in spots:
            assert not hits(box, rect, margin=1.0), f"the labels of {source}→{target} and {other} overlap"
        spots.append(((source, target), rect))


@pytest.mark.parametrize("name", template_names())
def test_every_template_draws_cleanly_and_legibly(name):
    graph = load_template(name)
    check_drawing(graph)
    drawn = draw(graph)
    assert fit_zoom(*drawn.size) >= LEGIBLE, f"{name}: {drawn.size}"
    assert draw(graph) == drawn  # deterministic: a re-layout doesn't jiggle the canvas


def test_a_flat_25_node_residual_network_folds_between_its_blocks():
    """The flat resnet_mini of format 1 (23 blocks, two residual blocks): folded into columns, never through a
    residual block (each column starts where a single edge comes in), at >= 65 % (whole blocks cost zoom)."""
    flat = flat_resnet()
    assert len(flat.nodes) == 23
    check_drawing(flat)
    drawn = draw(flat)
    assert fit_zoom(*drawn.size) >= 0.65
    tops = [n for n, (_, y) in drawn.positions.items() if y == 0.0]
    assert len(tops) > 1
    for top in tops:
        if top != "x":
            assert len(flat.in_edges(top)) == 1, top
            assert all(drawn.positions[e.source][0] < drawn.positions[top][0] for e in flat.in_edges(top))
    for start, add in (("stem_relu", "b1_add"), ("b1_out", "b2_add")):  # each block whole, its Add at the bottom
        assert drawn.positions[add][1] - drawn.positions[start][1] == pytest.approx(6 * STEP_Y), add


def test_a_short_chain_is_one_column_top_to_bottom():
    drawn = draw(chain(5))
    xs = {x for x, _ in drawn.positions.values()}
    ys = [y for _, y in drawn.positions.values()]
    assert len(xs) == 1 and ys == sorted(ys) and len(set(ys)) == 5


def test_a_long_chain_folds_into_columns_that_fit_the_view():
    graph = chain(40)
    check_drawing(graph)
    drawn = draw(graph)
    assert len({x for x, _ in drawn.positions.values()}) > 1
    assert drawn.size[1] <= VIEW_H / LEGIBLE and drawn.size[0] <= VIEW_W / 0.3


def test_a_skip_connection_runs_in_its_own_lane_beside_the_blocks():
    graph = residual()
    check_drawing(graph)
    drawn = draw(graph)
    main = {drawn.positions[k][0] for k in ("a", "b", "c")}
    assert len(main) == 1  # the main path is straight
    skip = drawn.routes[("x", "add")]
    assert max(x for x, _ in skip.points) >= main.pop() + NODE_W  # beside it, not through it
    assert skip.label_centred


def test_branches_sit_side_by_side_and_cycles_still_draw():
    nodes = [Node("a", "Input"), Node("b", "ReLU"), Node("c", "Tanh"), Node("d", "Add")]
    edges = [Edge("a", "b"), Edge("a", "c"), Edge("b", "d", "1"), Edge("c", "d", "2")]
    drawn = draw(Graph(nodes=tuple(nodes), edges=tuple(edges)))
    assert drawn.positions["b"][1] == drawn.positions["c"][1] and drawn.positions["b"][0] != drawn.positions["c"][0]
    cyclic = Graph(nodes=tuple(nodes), edges=(*edges, Edge("d", "b")))
    assert set(draw(cyclic).positions) == {"a", "b", "c", "d"}


def test_hand_placed_nodes_stay_and_new_ones_avoid_them():
    graph = chain(4)
    ids = graph.node_ids
    pinned = move_node(graph, ids[1], (500.0, 500.0))
    drawn = place(pinned)
    assert drawn.positions[ids[1]] == (500.0, 500.0)
    assert (ids[0], ids[1]) not in drawn.routes and (ids[2], ids[3]) in drawn.routes  # moved: a plain curve
    squat = move_node(graph, ids[0], draw(graph).positions[ids[2]])  # pinned where the layout puts another
    spots = place(squat).positions
    assert not overlaps(spots[ids[2]], [spots[ids[0]]])
    assert needs_layout(graph) and not needs_layout(auto_layout(graph))
    assert needs_layout(unpin_all(auto_layout(graph)))


def test_label_lanes_widen_for_long_labels():
    graph = residual()
    assert draw(graph, {("x", "add"): 160.0}).size[0] > draw(graph).size[0]
    check_drawing(set_param(graph, "x", "shape", [3, 32, 32]))


def opened_layer2():
    from ui.common.block_view import Step, block_view

    design = load_template("resnet18")
    view = block_view(design, validate(design), (Step("layer2", design.node("layer2").type, 0),))
    return view.graph, view.result


def test_an_opened_residual_block_reads_top_to_bottom_with_add_at_the_bottom():
    """resnet18's layer2 (a BasicBlock with a downsample): one column, the skip path beside the main path, Add
    below both (only the ReLU it feeds is lower), the labels of Add's two inputs apart."""
    graph, result = opened_layer2()
    drawn, _ = drawing(graph, result)
    check_drawing(graph)
    ys = {n: y for n, (_, y) in drawn.positions.items()}
    main = ["x", "conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu2"]
    assert [ys[n] for n in main] == sorted(ys[n] for n in main) and len({ys[n] for n in main}) == len(main)
    assert ys["add"] > max(y for n, y in ys.items() if n not in ("add", "relu2"))
    assert drawn.positions["downsample"][0] > drawn.positions["bn2"][0] + drawn.width("bn2")  # beside, not below
    assert fit_zoom(*drawn.size) >= LEGIBLE


@pytest.mark.parametrize("n", [2, 5, 7, 8])
def test_a_chain_that_fits_legibly_is_never_folded(n):
    drawn = draw(chain(n))
    assert len({x for x, _ in drawn.positions.values()}) == 1


def test_wide_faces_get_wide_nodes_that_never_overlap():
    graph = set_param(residual(), "x", "shape", [3, 32, 32])
    wide = {"b": 230.0, "x": 200.0}
    drawn = place(graph, None, wide)
    assert drawn.width("b") == 230.0 and drawn.width("a") == NODE_W
    placed = boxes(drawn.positions, drawn.widths)
    ids = sorted(placed)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert not hits(placed[a], placed[b], margin=0), f"{a} overlaps {b}"
    route = drawn.routes[("a", "b")]
    assert route.points[-1][0] == pytest.approx(drawn.positions["b"][0] + 115.0)  # enters at the wide node's middle
