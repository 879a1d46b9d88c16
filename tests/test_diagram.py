"""The design as a picture: SVG that an XML parser reads with every name and shape as text, PNG that opens."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from builder.edits import add_node, connect
from builder.graph import Graph
from builder.project import load_project
from builder.templates import load_template, template_names
from builder.validate import validate
from export.diagram import BOX_H, BOX_W, diagram_png, diagram_svg, scene

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [el.text or "" for el in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["resnet_mini", "transformer_seq2seq", "lstm_text", "autoencoder", "flat"])
def test_svg_holds_every_name_and_output_shape_as_text(name: str) -> None:
    graph = _flat_resnet() if name == "flat" else load_template(name)
    result = validate(graph)
    texts = _texts(diagram_svg(graph, result))
    for node in graph.nodes:
        assert node.id in texts, node.id
        assert str(result.nodes[node.id].output) in texts, (node.id, result.nodes[node.id].output)
    assert f"{result.total_params:,} parameters · {len(graph.nodes)} blocks" in texts


@pytest.mark.parametrize("orient", ["landscape", "portrait"])
def test_every_template_draws_without_overlapping_boxes(orient: str) -> None:
    for name in template_names():
        picture = scene(load_template(name), orient=orient)
        boxes = picture.boxes
        for i, a in enumerate(boxes):
            assert a.x >= 0 and a.right <= picture.width and a.y >= 0 and a.bottom <= picture.height, (name, a.node)
            for b in boxes[i + 1:]:
                apart = a.right <= b.x or b.right <= a.x or a.bottom <= b.y or b.bottom <= a.y
                assert apart, (name, a.node, b.node)


def _flat_resnet() -> Graph:
    """resnet_mini as version 1 drew it: every layer a node, residual Adds with two inputs."""
    return load_project((ROOT / "tests" / "fixtures" / "v1_templates" / "resnet_mini.json").read_bytes())


def test_arrows_run_from_source_to_target_and_avoid_other_boxes() -> None:
    graph = _flat_resnet()
    picture = scene(graph, orient="portrait")
    by_id = {b.node: b for b in picture.boxes}
    assert len(picture.arrows) == len(graph.edges)
    for edge, arrow in zip(graph.edges, picture.arrows):
        source, target = by_id[edge.source], by_id[edge.target]
        start_x, start_y = arrow.points[0]
        end_x, end_y = arrow.points[-1]
        assert source.x < start_x < source.right and start_y == pytest.approx(source.bottom), edge
        assert target.x < end_x < target.right and end_y == pytest.approx(target.y), edge
        for x, y in arrow.points[1:-1]:  # inner points: never inside a box
            assert not any(b.x < x < b.right and b.y < y < b.bottom for b in picture.boxes), (edge, (x, y))
    add = next(b for b in picture.boxes if b.node == "b1_add")
    assert sorted(a.label for a, e in zip(picture.arrows, graph.edges) if e.target == add.node) == ["#1", "#2"]


def test_png_opens_at_1920_px_and_is_not_blank() -> None:
    data = diagram_png(load_template("resnet_mini"))
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.width == 1920
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text, borders and arrows, not a white sheet


def test_png_width_is_checked() -> None:
    with pytest.raises(ValueError, match="width=10"):
        diagram_png(load_template("xor_mlp"), width=10)


def test_a_design_with_issues_is_drawn_with_the_faulty_node_marked() -> None:
    graph, inp = add_node(Graph(name="broken"), "Input", params={"shape": [4]})
    graph, lin = add_node(graph, "Linear", params={"out_features": 3})
    graph, conv = add_node(graph, "Conv2d", params={"out_channels": 2})
    graph = connect(connect(graph, inp, lin), lin, conv)
    picture = scene(graph)
    box = {b.node: b for b in picture.boxes}
    assert box[conv].colour != box[lin].colour
    assert "shape unknown" in [t.text for t in box[conv].lines]
    assert "issue" in picture.subtitle
    ET.fromstring(diagram_svg(graph))


def test_user_text_is_escaped() -> None:
    graph, inp = add_node(Graph(name="<b>&"), "Input", params={"shape": [2]})
    graph, lin = add_node(graph, "Linear", params={"out_features": 1})
    graph = connect(graph, inp, lin)
    assert "<b>&" in _texts(diagram_svg(graph))


def test_box_size_is_the_scene_unit() -> None:
    box = scene(load_template("xor_mlp"), orient="portrait").boxes[0]
    assert (box.right - box.x, box.bottom - box.y) == (BOX_W, BOX_H)


def test_the_diagram_module_does_not_import_streamlit() -> None:
    code = "import sys, export.diagram; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_bytes_and_formats_offer_svg_and_png() -> None:
    from export.files import export_bytes, file_name
    from export.formats import FORMATS, Format

    graph = load_template("resnet_mini")
    svg = export_bytes(graph, "svg")
    assert ET.fromstring(svg).tag == f"{SVG}svg"
    assert Image.open(io.BytesIO(export_bytes(graph, Format.PNG))).format == "PNG"
    assert file_name(graph, "svg") == "resnet_mini.svg" and FORMATS[Format.PNG].mime == "image/png"


def test_cli_writes_svg_and_png(tmp_path: Path) -> None:
    graph = load_template("resnet_mini")
    result = validate(graph)
    for fmt in ("svg", "png"):
        out = tmp_path / f"picture.{fmt}"
        run = subprocess.run([sys.executable, "-m", "cli", "export", "resnet_mini", "--to", fmt, "-o", str(out)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert f"wrote {out}" in run.stdout
    texts = _texts((tmp_path / "picture.svg").read_text())
    assert all(n.id in texts and str(result.nodes[n.id].output) in texts for n in graph.nodes)
    assert Image.open(tmp_path / "picture.png").width == 1920


def test_blocks_made_of_blocks_are_one_box_each() -> None:
    graph = load_template("resnet_mini")
    instances = [n.id for n in graph.nodes if n.type in graph.definitions]
    assert instances
    boxes = {b.node: b for b in scene(graph).boxes}
    assert set(boxes) == set(graph.node_ids)  # the instances, not the layers inside them
    assert all(boxes[i].collapsed for i in instances)
    assert not any(b.collapsed for n, b in boxes.items() if n not in instances)


# ---- a diagram for slides ------------------------------------------------------------------------------------
def _groups(svg: str) -> dict[str, list[str]]:
    """The texts drawn inside each node's <g id="node-…">."""
    root = ET.fromstring(svg)
    return {g.get("id", "").removeprefix("node-"): [t.text or "" for t in g.iter(f"{SVG}text")]
            for g in root.iter(f"{SVG}g")}


def test_cli_resnet18_landscape_is_16_9_with_x2_on_each_stage(tmp_path: Path) -> None:
    """The issue's check: `layerlab export resnet18 --to png --orient landscape` fills a 1920×1080 slide; its SVG
    (the same scene) shows ×2 on each stage."""
    for fmt in ("png", "svg"):
        run = subprocess.run([sys.executable, "-m", "cli", "export", "resnet18", "--to", fmt, "--orient",
                              "landscape", "-o", str(tmp_path / f"r.{fmt}")], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    assert Image.open(tmp_path / "r.png").size == (1920, 1080)
    svg = (tmp_path / "r.svg").read_text()
    root = ET.fromstring(svg)
    assert float(root.get("width")) / float(root.get("height")) == pytest.approx(16 / 9, abs=0.01)
    groups = _groups(svg)
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        assert "×2" in groups[stage], (stage, groups[stage])
    assert "×2" not in groups["conv1"]


def test_settings_are_whole_and_include_what_the_design_sets() -> None:
    groups = _groups(diagram_svg(load_template("resnet18")))
    assert "out 64 · k 7 · s 2 · pad 3" in " · ".join(groups["conv1"])
    assert "k 3 · s 2 · pad 1" in groups["maxpool"]  # maxpool's stride, set by the design, not a key setting
    assert "planes 128 · s 2 · downsample" in groups["layer2"]
    for name in template_names():  # a setting is never cut ("kernel_size=…"): long lists wrap instead
        graph = load_template(name)
        result = validate(graph)
        for box in scene(graph, result).boxes:
            settings = [t.text for t in box.lines[2:4]]
            assert not any(t.endswith("…") for t in settings), (name, box.node, settings)


def test_edges_carry_the_shape_they_hold() -> None:
    graph = load_template("resnet18")
    texts = _texts(diagram_svg(graph))
    for shape in ("3×32×32", "64×16×16", "64×8×8", "128×4×4", "256×2×2", "512×1×1", "512"):  # CIFAR-10 size
        assert shape in texts, shape
    picture = scene(graph)
    assert sum(bool(a.shape) for a in picture.arrows) == len({e.source for e in graph.edges})


@pytest.mark.parametrize("orient", ["landscape", "portrait"])
def test_orient_is_checked_and_offered(orient: str) -> None:
    from export.files import ExportError, export_bytes

    picture = scene(load_template("resnet_mini"), orient=orient)
    wide = picture.width > picture.height
    assert wide == (orient == "landscape")
    with pytest.raises(ExportError, match="orient must be landscape or portrait, not 'sideways'"):
        export_bytes(load_template("xor_mlp"), "svg", orient="sideways")
    with pytest.raises(ExportError, match="only the svg and png diagrams"):
        export_bytes(load_template("xor_mlp"), "py", orient=orient)


def _chain(n: int) -> Graph:
    graph, previous = add_node(Graph(name=f"chain{n}"), "Input", params={"shape": [16]})
    for k in range(n - 1):
        graph, node = add_node(graph, "Linear" if k % 2 == 0 else "ReLU",
                               params={"out_features": 16} if k % 2 == 0 else {})
        graph, previous = connect(graph, previous, node), node
    return graph


@pytest.mark.parametrize("n", [3, 12, 30])
def test_up_to_30_nodes_fit_a_16_9_slide_at_a_legible_size(n: int) -> None:
    """Wrapped into bands, a 30-node chain still draws its boxes at least at their own size on 1920×1080."""
    graph = _chain(n)
    picture = scene(graph)
    assert picture.width / picture.height == pytest.approx(16 / 9)
    assert 1920 / picture.width >= 0.95, "boxes (and their 11–14 px text) shrink below their size"
    assert Image.open(io.BytesIO(diagram_png(graph))).size == (1920, 1080)
    boxes = picture.boxes
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.right <= picture.width and a.y >= 0 and a.bottom <= picture.height
        assert all(a.right <= b.x or b.right <= a.x or a.bottom <= b.y or b.bottom <= a.y for b in boxes[i + 1:])
