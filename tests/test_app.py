"""The app's logic through Streamlit's AppTest: what the canvas returns is injected through session_state."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from app_helpers import start_app
from streamlit.testing.v1 import AppTest

from builder.project import dump_project
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.canvas_events import apply_canvas_state, match_block_type

_CLOCK = itertools.count(1)
def start(query: dict[str, str] | None = None, view: str | None = "Build") -> AppTest:
    return start_app(query, view)


def graph(at: AppTest):
    return at.session_state["ll_history"].current


def selected(at: AppTest) -> str | None:
    return at.session_state["ll_selected"]


def canvas_args(at: AppTest) -> dict:
    (element,) = at.get("component_instance")
    return json.loads(element.proto.json_args)


def chip(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "<span class='ll-chip" in m.value)


def send_canvas(at: AppTest, edges: list[dict] | None = None, selected_id: str | None = None,
                extra_nodes: list[dict] | None = None) -> None:
    """What the canvas sends back: the nodes it shows (as Python last pushed them), edges, the clicked id."""
    args = canvas_args(at)
    at.session_state["canvas"] = {
        "nodes": args["nodes"] + (extra_nodes or []),
        "edges": args["edges"] if edges is None else edges,
        "selectedId": selected_id,
        "timestamp": stamp(),
    }
    at.run()
    assert not at.exception, at.exception


def stamp() -> int:
    """Canvas timestamps: newer than anything Python pushed, and increasing."""
    return int(time.time() * 1000) + 100_000 + 1000 * next(_CLOCK)


def edge(source: str, target: str) -> dict:
    return {"id": f"st-flow-edge_{source}-{target}", "source": source, "target": target}


def test_first_visit_shows_the_gallery_and_a_blank_canvas() -> None:
    at = start(view=None)
    assert at.session_state["view"] == "Templates"
    assert [n.type for n in graph(at).nodes] == ["Input"]
    assert "1 issue" in chip(at)
    assert any(b.key == "open_digits_cnn" for b in at.button)


def test_palette_clicks_chain_blocks_after_the_selection() -> None:
    at = start()
    send_canvas(at, selected_id="input_1")  # a click on the Input node
    assert selected(at) == "input_1"
    for type_name in ("Linear", "ReLU", "Linear"):
        at.button(key=f"palette_{type_name}").click().run()
    g = graph(at)
    assert [(e.source, e.target) for e in g.edges] == [
        ("input_1", "linear_1"), ("linear_1", "relu_1"), ("relu_1", "linear_2")]
    assert selected(at) == "linear_2"
    assert "valid" in chip(at)
    faces = {n["id"]: n["data"]["content"] for n in canvas_args(at)["nodes"]}
    assert "→ 64" in faces["linear_2"] and "4.2 K params" in faces["linear_2"]  # 64×64 + 64
    labels = {e["id"]: e["label"] for e in canvas_args(at)["edges"]}
    assert labels["st-flow-edge_linear_1-relu_1"] == "64"


def test_palette_search_filters_by_alias() -> None:
    at = start()
    at.text_input(key="palette_search").input("residual").run()
    keys = {b.key for b in at.button if (b.key or "").startswith("palette_") and b.key != "palette_deselect"}
    assert keys == {"palette_Add"}


def test_drawn_edge_shows_the_error_and_the_fix_removes_it() -> None:
    at = start()
    at.button(key="palette_Embedding").click().run()
    send_canvas(at, edges=[edge("input_1", "embedding_1")], selected_id="st-flow-edge_input_1-embedding_1")
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "embedding_1")]
    assert selected(at) == "embedding_1"  # a drawn edge selects its target, where the problem shows
    assert any("token ids" in e.value for e in at.error)
    face = next(n for n in canvas_args(at)["nodes"] if n["id"] == "embedding_1")
    assert "✖" in face["data"]["content"] and face["style"]["border"].startswith("2px solid #dc2626")
    red = next(e for e in canvas_args(at)["edges"] if e["id"] == "st-flow-edge_input_1-embedding_1")
    assert red["label"].startswith("✖")
    fix = next(b for b in at.button if b.label.startswith("Fix: make the Input token ids"))
    fix.click().run()
    assert "valid" in chip(at)
    assert graph(at).node("input_1").params["dtype"] == "long"
    assert not at.error


def test_canvas_moves_and_deletions_sync() -> None:
    at = start()
    send_canvas(at, selected_id="input_1")
    at.button(key="palette_Linear").click().run()
    nodes = canvas_args(at)["nodes"]
    for item in nodes:
        if item["id"] == "linear_1":
            item["position"] = {"x": 777.0, "y": 55.0}
    at.session_state["canvas"] = {"nodes": nodes, "edges": canvas_args(at)["edges"], "selectedId": None,
                                  "timestamp": stamp()}
    at.run()
    assert graph(at).node("linear_1").pos == (777.0, 55.0)
    send_canvas(at, edges=[])  # the edge deleted on the canvas
    assert graph(at).edges == ()
    at.button(key="undo").click().run()
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "linear_1")]


def test_pane_menu_text_creates_a_block_or_explains() -> None:
    at = start()
    pane = {"id": "st-flow-node_abc", "position": {"x": 400, "y": 300}, "data": {"content": "conv2d"}}
    send_canvas(at, extra_nodes=[pane])
    assert [n.type for n in graph(at).nodes] == ["Input", "Conv2d"]
    assert graph(at).node("conv2d_1").pos == (400.0, 300.0)
    pane = {"id": "st-flow-node_xyz", "position": {"x": 0, "y": 0}, "data": {"content": "Conv2x"}}
    send_canvas(at, extra_nodes=[pane])
    assert len(graph(at).nodes) == 2
    assert any("not a block type" in w.value and "Conv2d" in w.value for w in at.warning)
    assert "st-flow-node_xyz" not in {n["id"] for n in canvas_args(at)["nodes"]}  # pushed away again


def test_undo_redo_and_template_loading() -> None:
    at = start()
    assert at.button(key="undo").disabled
    at.session_state["view"] = "Templates"
    at.run()
    at.button(key="open_digits_cnn").click().run()
    assert graph(at).name == "digits_cnn" and at.session_state["view"] == "Build"
    assert all(n.pos is not None for n in graph(at).nodes)  # laid out on load
    at.button(key="undo").click().run()
    assert [n.type for n in graph(at).nodes] == ["Input"]
    assert at.button(key="redo").disabled is False
    at.button(key="redo").click().run()
    assert graph(at).name == "digits_cnn"


def test_inspector_param_widget_edits_and_refuses() -> None:
    at = start()
    send_canvas(at, selected_id="input_1")
    at.button(key="palette_Linear").click().run()
    at.number_input(key="param_linear_1_out_features").set_value(10).run()
    assert graph(at).node("linear_1").params["out_features"] == 10
    at.button(key="cut_linear_1_input_1").click().run()
    assert graph(at).edges == ()
    at.button(key="undo").click().run()
    send_canvas(at, selected_id="input_1")
    at.text_input(key="param_input_1_shape").input("1, 8, 8").run()
    assert graph(at).node("input_1").params["shape"] == [1, 8, 8]
    at.text_input(key="param_input_1_shape").input("1, eight").run()
    assert graph(at).node("input_1").params["shape"] == [1, 8, 8]
    assert any("whole numbers" in e.value for e in at.error)


def test_code_panel_shows_the_source_or_refuses() -> None:
    at = start(view="Code")
    assert any("Fix 1 issue first" in w.value for w in at.warning)
    assert not at.code
    at.session_state["view"] = "Templates"
    at.run()
    at.button(key="open_digits_mlp").click().run()
    at.session_state["view"] = "Code"
    at.run()
    assert "class DigitsMlp(nn.Module)" in at.code[0].value
    compile(at.code[0].value, "model.py", "exec")


def test_summary_panel_table() -> None:
    at = start(query={"design": encode_share(load_template("digits_mlp"))}, view="Summary")
    frame = at.dataframe[0].value
    assert list(frame["layer"]) == [n.id for n in load_template("digits_mlp").nodes]
    assert frame["params"].sum() == validate(load_template("digits_mlp")).total_params


def _portable(g) -> dict:
    data = dump_project(g)
    for item in data["nodes"]:
        item.pop("pos", None)
    return data


def test_share_link_round_trip() -> None:
    template = load_template("lenet5")
    at = start(query={"design": encode_share(template)}, view=None)
    assert at.session_state["view"] == "Build"
    assert _portable(graph(at)) == _portable(template)
    at.button(key="palette_ReLU").click().run()
    at.button(key="share").click().run()
    link = at.query_params["design"]
    link = link[0] if isinstance(link, list) else link
    again = start(query={"design": link}, view=None)
    assert _portable(graph(again)) == _portable(graph(at))


@pytest.mark.parametrize("link", ["1.not-base64!!", "9.abc", "x" * 20_000])
def test_bad_share_link_gets_a_clear_message(link: str) -> None:
    at = start(query={"design": link}, view=None)
    assert any("could not be opened" in e.value for e in at.error)
    assert [n.type for n in graph(at).nodes] == ["Input"]


def test_train_tab_renders_without_error() -> None:
    at = start(view="Train")
    assert not at.exception


def test_canvas_events_are_pure() -> None:
    g = load_template("xor_mlp")
    nodes = [{"id": n.id, "position": {"x": 1.0, "y": 2.0}, "data": {}} for n in g.nodes]
    out = apply_canvas_state(g, {"nodes": nodes, "edges": [edge(e.source, e.target) for e in g.edges],
                                 "selectedId": None})
    assert not out.structural and out.graph.nodes[0].pos == (1.0, 2.0)
    assert match_block_type("**LSTM**") == "LSTM" and match_block_type("fully connected") == "Linear"
    assert match_block_type("banana") is None
    clicked = apply_canvas_state(g, {"nodes": nodes, "edges": [edge(e.source, e.target) for e in g.edges],
                                     "selectedId": "st-flow-edge_x-hidden"})
    assert clicked.selected is None  # an existing edge: stays selected on the canvas for the Delete key


def test_multi_input_ports_order_and_labels() -> None:
    at = start(query={"design": encode_share(load_template("resnet_mini"))})
    send_canvas(at, selected_id="b1_add")
    labels = {e["id"]: e["label"] for e in canvas_args(at)["edges"]}
    assert labels["st-flow-edge_b1_bn2-b1_add"].startswith("#1 · ")
    assert labels["st-flow-edge_stem_relu-b1_add"].startswith("#2 · ")
    at.button(key="down_b1_add_b1_bn2").click().run()  # b1_bn2 becomes input #2
    ports = {e.source: e.port for e in graph(at).in_edges("b1_add")}
    assert ports == {"stem_relu": "1", "b1_bn2": "2"}
    assert "valid" in chip(at)
    seq2seq = start(query={"design": encode_share(load_template("transformer_seq2seq"))})
    send_canvas(seq2seq, selected_id="decoder")
    labels = {e["id"]: e["label"] for e in canvas_args(seq2seq)["edges"]}
    assert labels["st-flow-edge_encoder-decoder"].startswith("memory · ")
    seq2seq.selectbox(key="port_decoder_encoder").select("tgt").run()  # both edges on 'tgt': an issue
    assert not seq2seq.exception
    assert any("port" in e.value for e in seq2seq.error)


def test_issue_row_selects_its_node() -> None:
    at = start()
    at.button(key="palette_Embedding").click().run()
    at.button(key="palette_deselect").click().run()
    assert selected(at) is None
    row = next(b for b in at.button if (b.key or "").startswith("issue_") and "embedding_1" in b.label)
    row.click().run()
    assert selected(at) == "embedding_1"


def test_rename_delete_and_auto_layout() -> None:
    from builder.layout import auto_layout

    at = start()
    send_canvas(at, selected_id="input_1")
    at.button(key="palette_Linear").click().run()
    at.text_input(key="rename_linear_1").input("classifier").run()
    at.button(key="do_rename_linear_1").click().run()
    assert graph(at).has_node("classifier") and selected(at) == "classifier"
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "classifier")]
    at.button(key="auto_layout").click().run()
    assert graph(at) == auto_layout(graph(at))
    at.button(key="delete_classifier").click().run()
    assert graph(at).node_ids == ["input_1"]
    assert not any((b.key or "").startswith("delete_") for b in at.button)  # the inspector is empty again


def test_train_tab_fix_button_edits_the_design() -> None:
    """The engine's fit check offers a one-click fix in the Train tab; clicking it edits the design itself."""
    design = load_template("tabular_mlp")
    design = design.replace_node(design.node("out").with_params(out_features=5))  # iris has 3 classes
    at = start(query={"design": encode_share(design)}, view="Train")
    assert not at.exception
    fixes = [b for b in at.button if "out_features" in str(b.label)]
    assert fixes, [b.label for b in at.button]
    fixes[0].click().run()
    assert not at.exception
    assert graph(at).node("out").params["out_features"] == 3
