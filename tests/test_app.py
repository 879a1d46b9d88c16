"""The app's logic through Streamlit's AppTest: the canvas's events are injected through session_state."""

from __future__ import annotations

import itertools
import json

import pytest
from app_helpers import start_app
from streamlit.testing.v1 import AppTest

from builder.graph import Edge, Graph, Node
from builder.project import dump_project
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.design.canvas_events import Step, apply_event, match_block_type

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


def send(at: AppTest, kind: str, **data) -> None:
    """One event from the canvas (ui/canvas_frontend sends exactly this shape), then the rerun it causes."""
    at.session_state["canvas"] = {"id": f"test-{next(_CLOCK)}", "kind": kind, **data}
    at.run()
    assert not at.exception, at.exception


def edge(source: str, target: str) -> str:
    return f"e:{source}->{target}"


def face(at: AppTest, node_id: str) -> str:
    node = next(n for n in canvas_args(at)["nodes"] if n["id"] == node_id)
    return " | ".join(" ".join(segment[1] for segment in line) for line in node["lines"])  # (style, text[, hover])


def labels(at: AppTest) -> dict[str, str]:
    return {e["id"]: e["label"] for e in canvas_args(at)["edges"]}


def test_first_visit_shows_the_gallery_and_a_blank_canvas() -> None:
    at = start(view=None)
    assert at.session_state["view"] == "Templates"
    assert [n.type for n in graph(at).nodes] == ["Input"]
    assert "blank" in chip(at) and "issue" not in chip(at)  # says what to do next, not a red chip
    assert any(b.key == "open_digits_cnn" for b in at.button)


def test_palette_clicks_chain_blocks_after_the_selection() -> None:
    at = start()
    send(at, "select", node="input_1")  # a click on the Input node
    assert selected(at) == "input_1"
    for type_name in ("Linear", "ReLU", "Linear"):
        at.button(key=f"palette_{type_name}").click().run()
    g = graph(at)
    assert [(e.source, e.target) for e in g.edges] == [
        ("input_1", "linear_1"), ("linear_1", "relu_1"), ("relu_1", "linear_2")]
    assert selected(at) == "linear_2"
    assert "valid" in chip(at)
    assert "→ 64" in face(at, "linear_2") and "4.2 K params" in face(at, "linear_2")  # 64×64 + 64
    assert labels(at)[edge("linear_1", "relu_1")] == "64"


def test_palette_search_filters_by_alias() -> None:
    at = start()
    at.text_input(key="palette_search").input("residual").run()
    keys = {b.key for b in at.button if (b.key or "").startswith("palette_") and b.key != "palette_deselect"}
    assert keys == {"palette_Add", "palette_StochasticDepth"}  # Add by its alias; DropPath drops a residual branch


def test_only_open_palette_categories_send_their_buttons() -> None:
    """Closed categories' buttons stay out of the page (Streamlit's frontend redraws every element at each click);
    the common ones are open from the start, and a search opens every category with a match."""
    at = start()
    keys = {b.key for b in at.button if (b.key or "").startswith("palette_")}
    assert {"palette_Input", "palette_Linear", "palette_Conv2d", "palette_ReLU", "palette_Dropout"} <= keys
    assert not keys & {"palette_MaxPool2d", "palette_Embedding", "palette_Add", "palette_mul"}
    at.text_input(key="palette_search").input("pool").run()
    found = {b.key for b in at.button if (b.key or "").startswith("palette_")}
    assert {"palette_MaxPool2d", "palette_AdaptiveAvgPool2d"} <= found


def test_drawn_edge_shows_the_error_and_the_fix_removes_it() -> None:
    at = start()
    at.text_input(key="palette_search").input("embedding").run()  # its category is closed: only a search shows it
    at.button(key="palette_Embedding").click().run()
    send(at, "connect", source="input_1", target="embedding_1")
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "embedding_1")]
    assert selected(at) == "embedding_1"  # a drawn edge selects its target, where the problem shows
    assert any("token ids" in e.value for e in at.error)
    node = next(n for n in canvas_args(at)["nodes"] if n["id"] == "embedding_1")
    assert "✖" in face(at, "embedding_1") and node["status"] == "error"
    red = next(e for e in canvas_args(at)["edges"] if e["id"] == edge("input_1", "embedding_1"))
    assert red["label"].startswith("✖") and red["bad"]
    fix = next(b for b in at.button if b.label.startswith("Fix: make the Input token ids"))
    fix.click().run()
    assert "valid" in chip(at)
    assert graph(at).node("input_1").params["dtype"] == "long"
    assert not at.error


def test_canvas_moves_and_deletions_sync() -> None:
    at = start()
    send(at, "select", node="input_1")
    at.button(key="palette_Linear").click().run()
    send(at, "move", positions={"linear_1": [777.0, 55.0]})
    assert graph(at).node("linear_1").pos == (777.0, 55.0)  # pinned where the user dropped it
    send(at, "delete", nodes=[], edges=[edge("input_1", "linear_1")])  # Backspace on a selected edge
    assert graph(at).edges == ()
    assert edge("input_1", "linear_1") not in labels(at)  # the canvas is told on the same run
    send(at, "undo")
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "linear_1")]
    send(at, "redo")
    assert graph(at).edges == ()


def test_clicking_a_selected_node_adds_no_undo_step() -> None:
    """React Flow reports a click on a node as a drag that ends where it began ("move" to its drawn place): that is
    no edit, so no undo step that would change nothing on screen. A real drag still pins the node, one step."""
    at = start(query={"design": encode_share(load_template("digits_mlp"))})
    middle = graph(at).node_ids[2]
    send(at, "select", node=middle)
    steps, before = at.session_state["ll_history"].steps, graph(at)
    drawn = next(n for n in canvas_args(at)["nodes"] if n["id"] == middle)
    for _ in range(2):
        send(at, "move", positions={middle: [drawn["x"], drawn["y"]]})
    assert graph(at) is before and at.session_state["ll_history"].steps == steps == 0
    assert at.button(key="undo").disabled  # nothing to undo: a click changed nothing
    send(at, "move", positions={middle: [drawn["x"] + 40, drawn["y"]]})
    assert graph(at).node(middle).pos == (drawn["x"] + 40, drawn["y"])
    assert at.session_state["ll_history"].steps == steps + 1


def test_a_move_to_where_a_node_is_drawn_is_no_edit() -> None:
    graph_ = load_template("digits_mlp")
    node_id = graph_.node_ids[1]
    still = apply_event(graph_, node_id, {"kind": "move", "positions": {node_id: [100.04, 50.0]}},
                        drawn={node_id: (100.0, 50.0)})
    assert still.graph is graph_ and still.key is None
    dragged = apply_event(graph_, node_id, {"kind": "move", "positions": {node_id: [103.0, 50.0]}},
                          drawn={node_id: (100.0, 50.0)})
    assert dragged.graph.node(node_id).pos == (103.0, 50.0)


def test_every_delete_is_the_same_edit_and_sticks() -> None:
    """Backspace/Delete and the right-click menu send "delete"; the inspector's button calls the same edit."""
    at = start(query={"design": encode_share(load_template("digits_mlp"))})
    before = graph(at)
    middle = before.node_ids[2]
    send(at, "select", node=middle)
    send(at, "delete", nodes=[middle], edges=[])
    by_key = graph(at)
    assert not by_key.has_node(middle) and selected(at) is None
    assert {n["id"] for n in canvas_args(at)["nodes"]} == set(by_key.node_ids)  # same run, no stale echo
    send(at, "delete", nodes=[middle], edges=[])  # a late repeat of the same delete changes nothing
    assert graph(at) == by_key
    at.run()  # and a rerun (a tab switch) doesn't bring it back
    assert graph(at) == by_key
    send(at, "undo")
    assert graph(at) == before
    send(at, "select", node=middle)
    at.button(key=f"delete_{middle}").click().run()
    assert graph(at) == by_key  # the inspector: the very same graph, bridge included


def test_a_canvas_event_is_applied_once() -> None:
    at = start()
    send(at, "create", text="ReLU", x=10, y=20)
    assert [n.type for n in graph(at).nodes] == ["Input", "ReLU"]
    at.run()  # the component returns its last value on every run: not a second ReLU
    assert [n.type for n in graph(at).nodes] == ["Input", "ReLU"]


def test_pane_menu_text_creates_a_block_or_explains() -> None:
    at = start()
    send(at, "create", text="conv2d", x=400, y=300)
    assert [n.type for n in graph(at).nodes] == ["Input", "Conv2d"]
    assert graph(at).node("conv2d_1").pos == (400.0, 300.0)
    assert selected(at) == "conv2d_1"
    send(at, "create", text="Conv2x", x=0, y=0)
    assert len(graph(at).nodes) == 2
    assert any("not a block type" in w.value and "Conv2d" in w.value for w in at.warning)


def test_undo_redo_and_template_loading() -> None:
    at = start()
    assert at.button(key="undo").disabled
    at.session_state["view"] = "Templates"
    at.run()
    at.button(key="open_digits_cnn").click().run()
    assert graph(at).name == "digits_cnn" and at.session_state["view"] == "Build"
    assert {n["id"] for n in canvas_args(at)["nodes"]} == set(graph(at).node_ids)  # drawn by the layout
    at.button(key="undo").click().run()
    assert [n.type for n in graph(at).nodes] == ["Input"]
    assert at.button(key="redo").disabled is False
    at.button(key="redo").click().run()
    assert graph(at).name == "digits_cnn"


def test_inspector_param_widget_edits_and_refuses() -> None:
    at = start()
    send(at, "select", node="input_1")
    at.button(key="palette_Linear").click().run()
    at.number_input(key="param_linear_1_out_features").set_value(10).run()
    assert graph(at).node("linear_1").params["out_features"] == 10
    at.button(key="cut_linear_1_input_1").click().run()
    assert graph(at).edges == ()
    at.button(key="undo").click().run()
    send(at, "select", node="input_1")
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
    # counts shown with digit grouping ("118,013,952", not "118013952"), kept as numbers so they sort as numbers
    columns = json.loads(at.dataframe[0].proto.columns)
    assert {name: columns[name]["type_config"] for name in ("params", "MACs")} == {
        name: {"type": "number", "format": "localized"} for name in ("params", "MACs")}
    assert frame["params"].dtype.kind == "i"
    total = validate(load_template("digits_mlp")).total_params
    assert at.metric[0].value == f"{total:,}"


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
    want = _portable(graph(at))
    want["meta"]["training"]["seed"] = 0  # a link carries the Train tab's seed, even the default (issue 13)
    assert _portable(graph(again)) == want


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
    assert apply_event(g, None, {"kind": "move", "positions": {g.node_ids[1]: [1.0, 2.0]}}).graph.nodes[1].pos == (1.0, 2.0)
    assert apply_event(g, None, {"kind": "undo"}).step is Step.UNDO
    assert apply_event(g, None, {"kind": "select", "node": "ghost"}).selected is None
    refused = apply_event(g, None, {"kind": "connect", "source": g.node_ids[1], "target": g.node_ids[0]})
    assert refused.graph is g and "nothing can feed it" in refused.messages[0]
    junk = apply_event(g, None, {"kind": "explode"})
    assert junk.graph is g and "doesn't know" in junk.messages[0]
    bad = apply_event(g, None, {"kind": "create", "text": "ReLU", "x": "left", "y": 0})
    assert bad.graph is g and "number" in bad.messages[0]
    assert match_block_type("**LSTM**") == "LSTM" and match_block_type("fully connected") == "Linear"
    assert match_block_type("banana") is None


def test_port_words_only_where_a_block_has_several_inputs() -> None:
    nodes = (Node("x", "Input", {"shape": [4, 8]}), Node("a", "ReLU"), Node("b", "Tanh"), Node("cat", "Concat"),
             Node("sum", "Add"))
    edges = (Edge("x", "a"), Edge("x", "b"), Edge("a", "cat", "1"), Edge("b", "cat", "2"), Edge("a", "sum", "1"),
             Edge("b", "sum", "2"))
    at = start(query={"design": encode_share(Graph("ports", nodes, edges))})
    shown = labels(at)
    assert shown[edge("x", "a")] == "4×8"  # one input: just the shape
    assert shown[edge("a", "cat")] == "#1 · 4×8" and shown[edge("b", "cat")] == "#2 · 4×8"  # order matters
    assert shown[edge("a", "sum")] == "4×8"  # Add: order doesn't matter, no number
    send(at, "select", node="cat")
    at.button(key="down_cat_a").click().run()
    assert labels(at)[edge("a", "cat")] == "#2 · 4×8"
    seq2seq = start(query={"design": encode_share(load_template("transformer_seq2seq"))})
    assert labels(seq2seq)[edge("encoder", "decoder")].startswith("memory · ")
    assert labels(seq2seq)[edge("src", "encoder")] == "8 ids"


def test_issue_row_selects_its_node() -> None:
    at = start()
    at.text_input(key="palette_search").input("embedding").run()  # its category is closed: only a search shows it
    at.button(key="palette_Embedding").click().run()
    at.button(key="palette_deselect").click().run()
    assert selected(at) is None
    row = next(b for b in at.button if (b.key or "").startswith("issue_") and "embedding_1" in b.label)
    row.click().run()
    assert selected(at) == "embedding_1"


def test_rename_delete_and_auto_layout() -> None:
    at = start()
    send(at, "select", node="input_1")
    at.button(key="palette_Linear").click().run()
    at.text_input(key="rename_linear_1").input("classifier").run()
    at.button(key="do_rename_linear_1").click().run()
    assert graph(at).has_node("classifier") and selected(at) == "classifier"
    assert [(e.source, e.target) for e in graph(at).edges] == [("input_1", "classifier")]
    send(at, "move", positions={"classifier": [900, 900]})
    at.button(key="auto_layout").click().run()
    assert all(n.pos is None for n in graph(at).nodes)  # back in the layered layout
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


def test_a_lesson_page_draws_its_table_and_code_only_when_opened() -> None:
    """A whole class loads a lesson link at once: the table and the highlighted code (~3 MB of the page's
    script) load only for a student who opens them."""
    at = start({"lesson": "digits_cnn"}, view=None)
    assert not at.dataframe and not at.code
    at.session_state["lesson_code"] = True  # what a click on the expander does
    at.run()
    assert any("class DigitsCnn" in c.value for c in at.code)
    at.session_state["lesson_layers"] = True
    at.run()
    assert at.dataframe and "conv1" in set(at.dataframe[0].value["layer"])


def test_a_runs_health_warning_shows_on_its_canvas_node_until_the_design_changes():
    """The Train tab's health warnings (training.health) land on the node concerned on the Build canvas."""
    from types import SimpleNamespace

    from training.health import HealthLog, HealthWarning

    at = start()
    at.session_state["ll_history"].push(load_template("digits_mlp"))
    at.run()
    design = graph(at)
    relu = next(n.id for n in design.nodes if n.type == "ReLU")
    log = HealthLog(warnings={f"{relu}:dead_relu": HealthWarning(relu, "dead_relu", "90% of its units gave 0", 3, 1)})
    at.session_state["ll_train_run"] = SimpleNamespace(graph=design, health=SimpleNamespace(log=log))
    at.run()
    assert "⚠ Dead ReLUs" in face(at, relu), face(at, relu)
    send(at, "delete", nodes=[next(n.id for n in design.nodes if n.type == "Linear" and n.id != relu)], edges=[])
    assert "⚠" not in face(at, relu)  # the warning was about the design before this edit
