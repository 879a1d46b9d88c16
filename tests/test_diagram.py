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


def test_every_template_draws_without_overlapping_boxes() -> None:
    for name in template_names():
        picture = scene(load_template(name))
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
    picture = scene(graph)
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
    box = scene(load_template("xor_mlp")).boxes[0]
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
